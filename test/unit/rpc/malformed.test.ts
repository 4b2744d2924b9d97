import { InvalidArgumentError } from '../../../services/node/src/errors';
import { DhtService } from '../../../services/node/src/gen/pastry/v1/dht';
import { PeerService, JoinRequest } from '../../../services/node/src/gen/pastry/v1/peer';
import { decodeDirect } from '../../../services/node/src/dht/peer-messages';
import { MalformedRequest, malformedError, tolerantDefinition } from '../../../services/node/src/rpc/malformed';

describe('tolerant request decoders', () => {
  it('wrap every method and keep paths and encoders', () => {
    for (const definition of [DhtService, PeerService]) {
      const tolerant = tolerantDefinition(definition);
      expect(Object.keys(tolerant)).toEqual(Object.keys(definition));
      for (const [name, method] of Object.entries(tolerant)) {
        const original = (definition as Record<string, typeof method>)[name]!;
        expect(method.path).toBe(original.path);
        expect(method.responseSerialize).toBe(original.responseSerialize);
        expect(method.requestDeserialize(Buffer.from([0x0a, 0x40]))).toBeInstanceOf(MalformedRequest);
      }
    }
  });

  it('decode valid bytes as before, and turn a decoder error into a marker with its reason', () => {
    const { join } = tolerantDefinition(PeerService);
    const valid = { joiner: undefined, path: [] };
    expect(join.requestDeserialize(Buffer.from(JoinRequest.encode(valid).finish()))).toEqual(valid);
    // joiner: a length-delimited field whose length runs past the end of the message.
    const decoded = join.requestDeserialize(Buffer.from([0x0a, 0x40, 0x01]));
    expect(decoded).toBeInstanceOf(MalformedRequest);
    const error = malformedError(decoded as unknown as MalformedRequest);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(/^malformed request: .*(range|EOF|index)/i);
  });

  it('the DHT decodes its own messages (in Peer.Direct) the same way: over MAX_SAFE_INTEGER is INVALID_ARGUMENT', () => {
    // storeReplicas.objects[0].version = 2^63: over Number.MAX_SAFE_INTEGER.
    const record = Buffer.concat([Buffer.from([0x0a, 0x10]), Buffer.alloc(16, 1), Buffer.from('1880808080808080808001', 'hex')]);
    const store = Buffer.concat([Buffer.from([0x12, record.length]), record]);
    const direct = Buffer.concat([Buffer.from([0x0a, store.length]), store]);
    expect(() => decodeDirect(direct)).toThrow(InvalidArgumentError);
    expect(() => decodeDirect(direct)).toThrow(/^malformed DHT message: .*MAX_SAFE_INTEGER/);
  });
});
