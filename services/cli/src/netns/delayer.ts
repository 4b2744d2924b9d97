import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

/**
 * The user-space stand-in for `tc ... netem delay` on kernels built without netem: a small
 * python3 program bound to NFQUEUE 0 of a pod's namespace that holds every queued packet for
 * the delay and then accepts it. The queue rule uses --queue-bypass, so traffic flows again
 * at once if the program dies; python3 only needs its standard library (raw netlink).
 */
const DELAYER_SOURCE = String.raw`
import os, select, socket, struct, sys, time, collections
# Holds each packet of NFQUEUE <queue> for <ms> ms, then accepts it (netem's fixed delay, in user space).
queue, ms = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((0, 0))
def attr(t, data):
    n = 4 + len(data)
    return struct.pack('=HH', n, t) + data + b'\0' * ((4 - n % 4) % 4)
def msg(kind, family, body):
    head = struct.pack('=BBH', family, 0, socket.htons(queue))
    return struct.pack('=IHHII', 16 + 4 + len(body), (3 << 8) | kind, 1 | 4, 0, 0) + head + body
def config(body):
    s.send(msg(2, 0, body))
    reply = s.recv(65536)
    _, t, _, _, _ = struct.unpack_from('=IHHII', reply)
    if t == 2:  # NLMSG_ERROR
        err = struct.unpack_from('=i', reply, 16)[0]
        if err != 0: raise OSError(-err, os.strerror(-err))
config(attr(1, struct.pack('!BBH', 1, 0, socket.AF_INET)))             # NFQNL_CFG_CMD_BIND
config(attr(2, struct.pack('!IB', 0, 1)) + attr(3, struct.pack('!I', 10000))  # copy meta, max length
       + attr(5, struct.pack('!I', 1)) + attr(4, struct.pack('!I', 1)))      # fail open when full
sys.stdout.write('ready\n'); sys.stdout.flush(); sys.stdout.close()
held = collections.deque()
while True:
    timeout = None if not held else max(0.0, held[0][0] - time.monotonic())
    if select.select([s], [], [], timeout)[0]:
        data = s.recv(1 << 16)
        at = time.monotonic() + ms / 1000
        off = 0
        while off + 16 <= len(data):
            length, t = struct.unpack_from('=IH', data, off)
            if length < 16: break
            if t == (3 << 8) | 0:  # NFQNL_MSG_PACKET
                a = off + 20
                while a + 4 <= off + length:
                    n, at_type = struct.unpack_from('=HH', data, a)
                    if n < 4: break
                    if at_type & 0x7fff == 1:  # NFQA_PACKET_HDR
                        held.append((at, struct.unpack_from('!I', data, a + 4)[0]))
                    a += (n + 3) & ~3
            off += (length + 3) & ~3
    now = time.monotonic()
    while held and held[0][0] <= now:
        _, pid = held.popleft()
        s.send(msg(1, 0, attr(2, struct.pack('!II', 1, pid))))  # NFQA_VERDICT_HDR: NF_ACCEPT
`;

const READY_TIMEOUT_MS = 5000;

/** Starts the delayer inside `ns`; resolves with its pid once it is bound to the queue. */
export function startDelayer(ns: string, queue: number, ms: number, logFile: string): Promise<number> {
  const log = openSync(logFile, 'a');
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', DELAYER_SOURCE, String(queue), String(ms)], { detached: true, stdio: ['ignore', 'pipe', log] });
  closeSync(log);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`the delay helper in ${ns} did not start within ${READY_TIMEOUT_MS} ms (see ${logFile})`)), READY_TIMEOUT_MS);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      if (child.pid) process.kill(child.pid, 'SIGKILL');
      reject(error);
    };
    child.once('error', (error) => fail(new Error(`cannot start python3 in ${ns} for the delay helper: ${error.message}`)));
    child.once('exit', (code) => fail(new Error(`the delay helper in ${ns} exited with ${code} (see ${logFile})`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (!chunk.toString().includes('ready')) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout!.destroy();
      child.unref();
      resolve(child.pid!);
    });
  });
}
