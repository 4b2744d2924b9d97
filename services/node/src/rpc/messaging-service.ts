import { status, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { InvalidArgumentError } from '../errors';
import type { MessagingServer, SubscribeRequest, SubscribeResponse } from '../gen/pastry/v1/messaging';
import { toNodeInfo } from '../overlay/codec';
import { inboxTopic } from '../scribe/messages';
import type { Scribe } from '../scribe/scribe';
import type { Subscription } from '../scribe/subscription';
import { MalformedRequest, malformedError } from './malformed';
import { callDeadline, refusal, unary, type HandlerContext } from './handler';

/** Client requests wait at most this long when the client set no deadline. */
const DEFAULT_REQUEST_DEADLINE_MS = 30_000;

/** The public Messaging API: Publish, Send and Anycast are unary; Subscribe streams. */
export function messagingService(deps: { scribe: Scribe } & HandlerContext): MessagingServer {
  const { scribe } = deps;
  const ctx = { log: deps.log, telemetry: deps.telemetry };
  const deadline = (call: Parameters<typeof callDeadline>[0]): number => callDeadline(call, Date.now(), DEFAULT_REQUEST_DEADLINE_MS);
  return {
    publish: unary(ctx, 'Messaging.Publish', (call) => scribe.publish(call.request.topic, call.request.payload, call.request.publisher, deadline(call))),
    send: unary(ctx, 'Messaging.Send', (call) => scribe.send(call.request.to, call.request.payload, call.request.publisher, deadline(call))),
    anycast: unary(ctx, 'Messaging.Anycast', async (call) => ({ deliveredBy: toNodeInfo(await scribe.anycast(call.request.topic, call.request.payload, call.request.publisher, deadline(call))) })),
    subscribe: (call: ServerWritableStream<SubscribeRequest, SubscribeResponse>) => {
      const observed = ctx.telemetry.server('Messaging.Subscribe', call.metadata, call.request);
      let subscription: Subscription | undefined;
      let cancelled = false;
      call.on('cancelled', () => {
        cancelled = true;
        if (subscription) scribe.unsubscribe(subscription);
      });
      const stream = async (): Promise<void> => {
        const request: unknown = call.request;
        if (request instanceof MalformedRequest) throw malformedError(request);
        const topic = subscribedTopic(call.request);
        const from = Number(call.request.fromSequence);
        if (!Number.isSafeInteger(from)) throw new InvalidArgumentError('from_sequence is too large');
        subscription = await scribe.subscribe(topic, from > 0 ? from : undefined, deadline(call as unknown as ServerUnaryCall<unknown, unknown>));
        if (cancelled) return scribe.unsubscribe(subscription);
        for await (const event of subscription.events) {
          if (cancelled) return;
          if (!call.write(event)) await drained(call);
        }
      };
      stream().then(
        () => {
          observed.end(0);
          if (!cancelled) call.end();
        },
        (error: unknown) => {
          if (subscription) scribe.unsubscribe(subscription);
          const e = refusal(ctx, 'Messaging.Subscribe', error);
          observed.end(e.code ?? status.UNKNOWN);
          if (!cancelled) call.emit('error', e);
        },
      );
    },
  };
}

function subscribedTopic(request: SubscribeRequest): string {
  if (request.inbox !== '' && request.topic !== '') throw new InvalidArgumentError('set topic or inbox, not both');
  return request.inbox !== '' ? inboxTopic(request.inbox) : request.topic;
}

/** Waits for the stream to drain or the call to end, leaving no listener behind. */
function drained(call: ServerWritableStream<SubscribeRequest, SubscribeResponse>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    call.once('drain', done);
    call.once('cancelled', done);
  });
}
