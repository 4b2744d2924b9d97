#!/usr/bin/env python3
"""A Pastry client in Python, on stubs generated from proto/ by grpcio-tools.

Publishes COUNT messages to a topic through one node, subscribes through another with
from_sequence=1 and reads them back, then puts a DHT object through one node and gets it
through the other. Prints what it saw as one JSON object; test/integration/python-client.test.ts
checks it. The generated package `pastry.v1` must be on PYTHONPATH:

    python3 -m grpc_tools.protoc -I proto --python_out=OUT --grpc_python_out=OUT proto/pastry/v1/*.proto
    PYTHONPATH=OUT python3 test/python/messaging_client.py --target 127.0.10.1:7000 --other 127.0.10.2:7000 \
        --topic news --key greeting
"""

import argparse
import json
import sys

import grpc

from pastry.v1 import dht_pb2, dht_pb2_grpc, messaging_pb2, messaging_pb2_grpc

# Every call has a deadline (seconds).
CALL_TIMEOUT = 15
SUBSCRIBE_TIMEOUT = 30


def publish(messaging, topic, count, publisher):
    """Publishes `count` messages; returns their acknowledgements."""
    acks = []
    for i in range(1, count + 1):
        payload = f"message {i} from python".encode()
        r = messaging.Publish(messaging_pb2.PublishRequest(topic=topic, payload=payload, publisher=publisher), timeout=CALL_TIMEOUT)
        acks.append({"sequence": r.sequence, "id": r.id.hex(), "payload": payload.decode()})
    return acks


def subscribe(messaging, topic, count):
    """Reads the subscribed event and then exactly `count` messages (or a gap) from sequence 1 on."""
    events = []
    stream = messaging.Subscribe(messaging_pb2.SubscribeRequest(topic=topic, from_sequence=1), timeout=SUBSCRIBE_TIMEOUT)
    try:
        for event in stream:
            kind = event.WhichOneof("event")
            if kind == "subscribed":
                s = event.subscribed
                events.append({"subscribed": {"topic": s.topic, "sequence": s.sequence, "oldest_retained": s.oldest_retained}})
            elif kind == "gap":
                events.append({"gap": {"first": event.gap.first, "last": event.gap.last}})
                break
            elif kind == "message":
                m = event.message
                events.append({"message": {"topic": m.topic, "id": m.id.hex(), "sequence": m.sequence, "publisher": m.publisher, "payload": m.payload.decode(), "anycast": m.anycast}})
                if sum(1 for e in events if "message" in e) == count:
                    break
    finally:
        stream.cancel()
    return events


def invalid_code(messaging):
    """An empty topic: the node must refuse it with INVALID_ARGUMENT."""
    try:
        messaging.Publish(messaging_pb2.PublishRequest(topic="", payload=b"x"), timeout=CALL_TIMEOUT)
    except grpc.RpcError as e:
        return {"code": e.code().name, "details": e.details()}
    return {"code": "OK"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of the node to publish and put through")
    parser.add_argument("--other", required=True, help="host:port of the node to subscribe and get through")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--key", required=True, help="name of the DHT object")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--publisher", default="python-client")
    args = parser.parse_args()

    with grpc.insecure_channel(args.target) as channel, grpc.insecure_channel(args.other) as other:
        grpc.channel_ready_future(channel).result(timeout=CALL_TIMEOUT)
        grpc.channel_ready_future(other).result(timeout=CALL_TIMEOUT)
        messaging = messaging_pb2_grpc.MessagingStub(channel)
        report = {
            "published": publish(messaging, args.topic, args.count, args.publisher),
            "events": subscribe(messaging_pb2_grpc.MessagingStub(other), args.topic, args.count),
            "invalid": invalid_code(messaging),
        }
        value = f"value of {args.key} from python".encode()
        put = dht_pb2_grpc.DhtStub(channel).Put(dht_pb2.PutRequest(name=args.key, value=value), timeout=CALL_TIMEOUT)
        got = dht_pb2_grpc.DhtStub(other).Get(dht_pb2.GetRequest(key=dht_pb2.Key(name=args.key)), timeout=CALL_TIMEOUT)
        report["dht"] = {"put_guid": put.guid.hex(), "get_guid": got.guid.hex(), "value": got.value.decode(), "expected": value.decode()}
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
