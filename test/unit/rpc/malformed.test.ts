import { InvalidArgumentError } from '../../../services/node/src/errors';
import { DhtService } from '../../../services/node/src/gen/pastry/v1/dht';
import { PeerService, StoreReplicasRequest } from '../../../services/node/src/gen/pastry/v1/peer';
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
    const { storeReplicas } = tolerantDefinition(PeerService);
    const valid = { sender: undefined, objects: [] };
    expect(storeReplicas.requestDeserialize(Buffer.from(StoreReplicasRequest.encode(valid).finish()))).toEqual(valid);
    // objects[0].version = 2^63: over Number.MAX_SAFE_INTEGER.
    const record = Buffer.concat([Buffer.from([0x0a, 0x10]), Buffer.alloc(16, 1), Buffer.from('1880808080808080808001', 'hex')]);
    const decoded = storeReplicas.requestDeserialize(Buffer.concat([Buffer.from([0x12, record.length]), record]));
    expect(decoded).toBeInstanceOf(MalformedRequest);
    const error = malformedError(decoded as unknown as MalformedRequest);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(/^malformed request: .*MAX_SAFE_INTEGER/);
  });
});
