// JSONL adapter: events as lines on a readable (stdin), predictions as lines on a writable (stdout).
// Each chunk that arrives is answered as soon as it is processed, so `ridepred stream` composes with
// pipes and interactive producers alike; stdout back-pressure pauses reading.
import { appendFileSync, openSync, closeSync, writeSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import type { DeadLetter, Message, Output, Sink, Source } from "./types.js";

const HIGH_WATER = 16384; // queued lines before stdin is paused

export function jsonlSource(input: Readable): Source {
  const queue: string[] = [];
  let head = 0;
  let partial = "";
  let taken = 0; // line number of the last line handed out
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  let watching: AbortSignal | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  input.setEncoding("utf8");
  input.on("data", (chunk: string) => {
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf("\n", start)) >= 0) {
      queue.push(partial + chunk.slice(start, nl));
      partial = "";
      start = nl + 1;
    }
    partial += chunk.slice(start);
    if (queue.length - head > HIGH_WATER) input.pause();
    notify();
  });
  input.on("end", () => {
    if (partial) queue.push(partial);
    partial = "";
    ended = true;
    notify();
  });
  input.on("error", (e) => {
    failure = e;
    notify();
  });

  return {
    async next(max, signal) {
      if (watching !== signal) {
        watching = signal;
        signal.addEventListener("abort", notify, { once: true });
      }
      while (head === queue.length && !ended && !failure && !signal.aborted) {
        await new Promise<void>((resolve) => (wake = resolve));
      }
      if (failure) throw failure;
      if (head === queue.length) return ended || signal.aborted ? null : [];
      const out: Message[] = [];
      while (head < queue.length && out.length < max) {
        let line = queue[head++]!;
        taken++;
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line.trim() === "") continue; // blank lines are not events
        out.push({ id: String(taken), data: line });
      }
      if (head > 4096 && head * 2 > queue.length) {
        queue.splice(0, head);
        head = 0;
      }
      if (input.isPaused() && queue.length - head < HIGH_WATER / 2 && !ended) input.resume();
      return out;
    },
    async ack() {},
    async close() {
      // Stopped by a signal with the producer still connected: release stdin so the process can exit.
      input.destroy();
    },
  };
}

/** Predictions to `out`, one per line, one write per batch; waits for 'drain' when the pipe is full. */
export function jsonlSink(out: Writable, deadLetters: DeadLetterWriter): Sink {
  return {
    async write(outputs: readonly Output[]) {
      let text = "";
      for (const o of outputs) text += o.json + "\n";
      if (!out.write(text))
        await new Promise<void>((resolve, reject) => {
          const done = (e?: Error) => {
            out.off("drain", done);
            out.off("error", done);
            e ? reject(e) : resolve();
          };
          out.on("drain", done);
          out.on("error", done);
        });
    },
    async deadLetter(letters: readonly DeadLetter[]) {
      deadLetters.write(letters);
    },
    async close() {
      deadLetters.close();
    },
  };
}

export interface DeadLetterWriter {
  write(letters: readonly DeadLetter[]): void;
  close(): void;
}

/** An error event as a JSON line: {"error": reason, "line": n, "input": the line as read}. */
export function errorLine(l: DeadLetter): string {
  return JSON.stringify({ error: l.reason, line: Number(l.id), input: l.data }) + "\n";
}

/** Error events to stderr (the default) ... */
export function stderrDeadLetters(): DeadLetterWriter {
  return {
    write: (letters) => {
      let text = "";
      for (const l of letters) text += errorLine(l);
      process.stderr.write(text);
    },
    close: () => {},
  };
}

/** ... or appended to a file (`--dead-letter FILE`), synchronously so nothing is lost on exit. */
export function fileDeadLetters(path: string): DeadLetterWriter {
  appendFileSync(path, ""); // create it now: an unwritable path is a usage error before any event is read
  const fd = openSync(path, "a");
  return {
    write: (letters) => {
      let text = "";
      for (const l of letters) text += errorLine(l);
      writeSync(fd, text);
    },
    close: () => closeSync(fd),
  };
}
