import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { MessagingClient, type AnycastResponse, type PublishResponse, type SubscribeRequest, type SubscribeResponse } from '../../node/src/gen/pastry/v1/messaging';
import { unaryCall, type UnaryMethod } from '../../node/src/rpc/unary-call';
import { ClientError, clientError } from './client';

/**
 * Keepalive pings find a subscription whose node vanished without closing the connection
 * (a partition, a powered-off host): a quiet topic sends nothing for hours, so silence
 * alone says nothing. The node's grpc-js server answers pings without limits.
 */
const CHANNEL = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
};

/** The public Messaging API of one node, with a deadline on every unary call. */
export class MessagingApi {
  private readonly client: MessagingClient;

  constructor(
    readonly target: string,
    private readonly timeoutMs = 10_000,
  ) {
    this.client = new MessagingClient(target, credentials.createInsecure(), CHANNEL);
  }

  close(): void {
    this.client.close();
  }

  publish(topic: string, payload: Buffer, publisher: string): Promise<PublishResponse> {
    return this.call(this.client.publish.bind(this.client), { topic, payload, publisher });
  }

  send(to: string, payload: Buffer, publisher: string): Promise<PublishResponse> {
    return this.call(this.client.send.bind(this.client), { to, payload, publisher });
  }

  anycast(topic: string, payload: Buffer, publisher: string): Promise<AnycastResponse> {
    return this.call(this.client.anycast.bind(this.client), { topic, payload, publisher });
  }

  private call<Req, Res>(method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
    return unaryCall(method, request, { deadline: Date.now() + this.timeoutMs }).catch((err: ServiceError) => {
      throw clientError(this.target, err);
    });
  }
}

export interface StreamOnceOptions {
  /** The node must confirm the subscription (its `subscribed` event) within this time. */
  confirmTimeoutMs: number;
  /** Aborting ends the stream quietly: the promise resolves. */
  signal: AbortSignal;
}

/**
 * One Subscribe call to one node: hands every event to `onEvent` in order (waiting for it,
 * so a slow reader slows the stream rather than piling it up here). Resolves when the node
 * ends the stream or `signal` aborts; rejects with a ClientError when the call fails.
 */
export async function subscribeOnce(target: string, request: SubscribeRequest, opts: StreamOnceOptions, onEvent: (event: SubscribeResponse) => Promise<void>): Promise<void> {
  if (opts.signal.aborted) return;
  const client = new MessagingClient(target, credentials.createInsecure(), CHANNEL);
  const call = client.subscribe(request);
  const stop = (): void => call.cancel();
  opts.signal.addEventListener('abort', stop, { once: true });
  let unconfirmed = false;
  const confirm = setTimeout(() => {
    unconfirmed = true;
    call.cancel();
  }, opts.confirmTimeoutMs);
  try {
    for await (const event of call as AsyncIterable<SubscribeResponse>) {
      if (opts.signal.aborted) return;
      if (event.subscribed) clearTimeout(confirm);
      await onEvent(event);
    }
  } catch (error) {
    if (opts.signal.aborted) return;
    // A failure of our own handler (a closed stdout) is not the node's.
    if (error instanceof ClientError || typeof (error as ServiceError).code !== 'number') throw error;
    if (unconfirmed) throw new ClientError(`${target}: DEADLINE_EXCEEDED: not subscribed within ${opts.confirmTimeoutMs / 1000} s`, status.DEADLINE_EXCEEDED);
    throw clientError(target, error as ServiceError);
  } finally {
    clearTimeout(confirm);
    opts.signal.removeEventListener('abort', stop);
    call.cancel();
    client.close();
  }
}
