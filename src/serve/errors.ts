// One error envelope for every route: {"error": "...", "details": [{"field", "reason", "row"?}]}.
// A client's mistake gets a 4xx naming what was wrong; only our own bugs are 500, and never show a stack.
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";

export interface ErrorDetail {
  field: string;
  reason: string;
  /** 0-based row within a batch, when the request held several rows. */
  row?: number;
}

export interface ErrorBody {
  error: string;
  details: ErrorDetail[];
}

/** An error a handler throws on purpose: sent as is with its status. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const badRequest = (message: string, details: ErrorDetail[] = []): HttpError => new HttpError(400, message, details);

/** Details listed in a response at most; the message says how many there were in all. */
export const MAX_DETAILS = 50;

interface AjvError {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** An ajv error as {field, reason}: "/inputs/0/data" -> "inputs[0].data", a missing property named. */
function fromAjv(e: AjvError): ErrorDetail {
  const segs = (e.instancePath ?? "").split("/").filter(Boolean);
  const missing = e.params?.missingProperty;
  if (typeof missing === "string") segs.push(missing);
  const field = segs.reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), "") || "body";
  const reason = typeof missing === "string" ? "is required" : (e.message ?? "is invalid");
  return { field, reason };
}

/** The envelope, with the details capped. */
export function envelope(error: string, details: ErrorDetail[]): ErrorBody {
  if (details.length <= MAX_DETAILS) return { error, details };
  return { error: `${error} (${details.length} problems; the first ${MAX_DETAILS} are listed)`, details: details.slice(0, MAX_DETAILS) };
}

/** fastify's own errors (parsing, limits, validation) mapped onto the envelope. */
export function errorHandler(err: FastifyError | HttpError, req: FastifyRequest, reply: FastifyReply): void {
  let status: number;
  let body: ErrorBody;
  const code = (err as FastifyError).code;
  if (err instanceof HttpError) {
    status = err.statusCode;
    body = { error: err.message, details: err.details };
  } else if ((err as FastifyError).validation) {
    status = 400;
    const details = (err as FastifyError).validation!.map((v) => fromAjv(v as AjvError));
    body = { error: `invalid request ${(err as FastifyError).validationContext ?? "body"}`, details };
  } else if (code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    status = 413;
    body = {
      error: "request body too large",
      details: [{ field: "body", reason: `exceeds the limit of ${req.routeOptions.bodyLimit ?? "the configured"} bytes` }],
    };
  } else if (code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    status = 415;
    const ct = req.headers["content-type"];
    body = {
      error: "unsupported content type",
      details: [
        {
          field: "content-type",
          reason: `${ct ? JSON.stringify(ct) : "a missing content type"} is not accepted here; send application/json${req.url.startsWith("/invocations") ? " or text/csv" : ""}`,
        },
      ],
    };
  } else if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) {
    // JSON syntax errors, empty bodies, bad content-length...: fastify's message is safe and says what was wrong.
    status = err.statusCode;
    body = { error: status === 400 ? "malformed request" : err.message, details: [{ field: "body", reason: err.message }] };
  } else {
    status = 500;
    req.log.error({ err }, "unhandled error");
    body = { error: "internal error", details: [] };
  }
  if (status >= 400 && status < 500) req.log.info({ status, error: body.error, details: body.details.slice(0, 3) }, "request rejected");
  void reply.code(status).type("application/json; charset=utf-8").send(envelope(body.error, body.details));
}
