// kcat's librdkafka mock cluster as the tests' Kafka: `kcat -P` with test.mock.num.brokers runs an
// in-process cluster on loopback ports, prints its bootstrap address on stderr and keeps running while its
// stdin is open. Topics are auto-created (4 partitions, replicated on 3 brokers) on first produce.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";

export const haveKcat = spawnSync("kcat", ["-V"]).status === 0;

export interface MockKafka {
  /** "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3" */
  bootstrap: string;
  brokers: string[];
  url(topic: string): string;
  stop(): Promise<void>;
}

export async function startMockKafka(brokers = 3): Promise<MockKafka> {
  const child: ChildProcess = spawn("kcat", ["-b", "127.0.0.1:1", "-X", `test.mock.num.brokers=${brokers}`, "-P", "-t", "ridepred-mock-keepalive"], {
    stdio: ["pipe", "ignore", "pipe"],
  });
  let err = "";
  const bootstrap = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kcat mock cluster did not start: ${err}`)), 10_000);
    child.stderr!.on("data", (d) => {
      err += d;
      const m = /replaced with (\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on("exit", (code) => reject(new Error(`kcat exited ${code}: ${err}`)));
  });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  return {
    bootstrap,
    brokers: bootstrap.split(","),
    url: (topic) => `kafka://${bootstrap}/${topic}`,
    async stop() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** A kafkajs client for the test's own produce and read. */
export async function kafkaClient(bootstrap: string) {
  const { Kafka, logLevel, Partitioners } = await import("kafkajs");
  const kafka = new Kafka({ clientId: "ridepred-test", brokers: bootstrap.split(","), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const watchers: { disconnect(): Promise<void> }[] = [];
  return {
    kafka,
    async produce(topic: string, messages: { key: string | null; value: string | null }[]) {
      await producer.send({ topic, acks: -1, messages });
    },
    /** Every message on `topic` from the beginning, collected in the background into the returned array. */
    async watch(topic: string) {
      const got: { key: string | null; value: string | null; partition: number; headers: Record<string, string> }[] = [];
      const c = kafka.consumer({ groupId: `watch-${topic}-${Math.random()}`, sessionTimeout: 6000, heartbeatInterval: 2000 });
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({
        eachMessage: async ({ partition, message }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
          got.push({ key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, partition, headers });
        },
      });
      watchers.push(c);
      return got;
    },
    async close() {
      await Promise.all(watchers.map((w) => w.disconnect().catch(() => {})));
      await producer.disconnect();
    },
  };
}
