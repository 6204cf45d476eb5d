// The seam between brokers and the prediction loop. A broker adapter (JSONL pipe, Redis Streams, Kafka,
// Kinesis) provides a Source and a Sink; pipeline.ts does the rest, identically for all of them.

/** One message as the broker delivered it: `id` is what ack() and dead letters refer to. */
export interface Message {
  id: string;
  /** The event's JSON text; undefined when the broker's message has no payload (itself a poison message). */
  data: string | undefined;
  /** Set when the broker already knows the message is poison (e.g. redelivered too often). */
  poison?: string;
  /** The broker's partition key (Kafka key, Kinesis partition key), carried to the output and dead letter. */
  key?: Buffer | string | null;
}

export interface Source {
  /**
   * Up to `max` messages. Resolves with [] when nothing arrived for a while (so the loop can notice a stop
   * request) and with null at the end of a finite stream. At most one call is outstanding at a time.
   */
  next(max: number, signal: AbortSignal): Promise<Message[] | null>;
  /**
   * next() may run while the previous batch is being written and acked (the pipeline reads ahead behind a
   * full batch). Sources whose reads and acks share state or a connection that a read can hold leave it unset.
   */
  readonly readAhead?: boolean;
  /**
   * False for a message handed out that must no longer be written: the source lost it (a Kafka member whose
   * commit the group refused no longer owns what it fetched; the partition's owner reads it again from the
   * committed offset). Asked just before a batch is written; such messages are neither written nor acked.
   */
  owns?(message: Message): boolean;
  /** Mark messages done: called only after their outputs (or dead letters) were written by the sink. */
  ack(ids: readonly string[]): Promise<void>;
  /**
   * Messages delivered again, so far (for the summary): taken over from a dead consumer (Redis), or received
   * a second time by this process (Kafka: written again). Absent where the source cannot tell: a pipe redelivers nothing, and
   * a Kinesis reader cannot know which records past the checkpoint a dead reader had already put.
   */
  reclaimed?(): number;
  close(): Promise<void>;
}

export interface DeadLetter {
  id: string;
  data: string | undefined;
  reason: string;
  key?: Buffer | string | null;
}

export interface Output {
  /** The source message it answers (kept beside the event so downstream can de-duplicate redeliveries). */
  id: string;
  json: string;
  /** The input message's key (Kafka writes the prediction under it: same partition as the event's). */
  key?: Buffer | string | null;
  /** The event's ride id as text: the course's output partition key on Kinesis. */
  rideId: string;
}

export interface Sink {
  /** Write predictions; resolves once they are durably handed to the broker (or stdout accepted them). */
  write(outputs: readonly Output[]): Promise<void>;
  deadLetter(letters: readonly DeadLetter[]): Promise<void>;
  close(): Promise<void>;
}
