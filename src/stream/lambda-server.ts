// `ridepred stream --lambda-port`: the Lambda runtime interface emulator's invoke endpoint, so the course's
// Lambda integration tests (POST the Kinesis event, read the JSON answer) run against ridepred locally.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { KinesisHandler } from "./kinesis.js";

export const INVOKE_PATH = "/2015-03-31/functions/function/invocations";
const MAX_BODY = 6 * 1024 * 1024; // Lambda's synchronous invocation payload limit

export interface LambdaServer {
  server: Server;
  port: number;
  invocations: () => number;
  close(): Promise<void>;
}

export async function startLambdaServer(handle: KinesisHandler, port: number, host = "127.0.0.1"): Promise<LambdaServer> {
  let count = 0;
  const server = createServer(async (req, res) => {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.url?.split("?")[0] !== INVOKE_PATH) return send(404, { message: `not found; invoke with POST ${INVOKE_PATH}` });
    if (req.method !== "POST") return send(405, { message: "use POST" }, { allow: "POST" });
    let text: string;
    try {
      text = await readBody(req);
    } catch (e) {
      return send(413, { message: (e as Error).message });
    }
    count++;
    // Like Lambda's Invoke API: a function error is a 200 with X-Amz-Function-Error and an error payload.
    try {
      send(200, await handle(text === "" ? {} : JSON.parse(text)));
    } catch (e) {
      const err = e as Error;
      send(200, { errorMessage: err.message, errorType: err.name }, { "x-amz-function-error": "Unhandled" });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    invocations: () => count,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new Error(`payload larger than ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString("utf8");
}
