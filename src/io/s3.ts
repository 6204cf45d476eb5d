// One S3 client for a run, configured from the environment as the AWS CLI is: region (AWS_REGION,
// AWS_DEFAULT_REGION or the profile), credentials (the SDK's default chain: env, profile, SSO, web
// identity, instance role) and AWS_ENDPOINT_URL_S3 for MinIO, R2 and other S3-compatible stores.
import type { S3Client } from "@aws-sdk/client-s3";
import { RidepredError } from "../errors.js";

export interface S3Location {
  bucket: string;
  key: string;
}

export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(url);
  const bucket = m?.[1];
  if (!bucket) throw new RidepredError(`${url}: expected s3://BUCKET/KEY`);
  return { bucket, key: m?.[2] ?? "" };
}

let client: Promise<S3Client> | undefined;

export function s3Client(): Promise<S3Client> {
  client ??= makeClient();
  return client;
}

async function makeClient(): Promise<S3Client> {
  // The SDK warns on stderr that its releases after January 2027 will need Node 22; this one is pinned
  // and supports Node 20, which ridepred does: the warning would only clutter the run's log.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const [{ S3Client }, { NodeHttpHandler }] = await Promise.all([import("@aws-sdk/client-s3"), import("@smithy/node-http-handler")]);
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 || undefined;
  const region = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || (endpoint ? "us-east-1" : undefined);
  return new S3Client({
    ...(region ? { region } : {}),
    // An S3-compatible store at its own address serves buckets as paths (no bucket.host DNS names), and
    // many (s3rver among them) do not speak the newer default checksums: stay with what S3 requires.
    ...(endpoint
      ? { endpoint, forcePathStyle: true, requestChecksumCalculation: "WHEN_REQUIRED" as const, responseChecksumValidation: "WHEN_REQUIRED" as const }
      : {}),
    requestHandler: new NodeHttpHandler({ connectionTimeout: 10_000, socketTimeout: 120_000 }),
    maxAttempts: 4,
  });
}

/**
 * The user-facing error for a failed S3 call: the URL, what was being done and S3's code (NoSuchKey,
 * AccessDenied, ...). SDK messages name no secrets; nothing from the credentials is added.
 */
export function s3Error(url: string, doing: string, e: unknown, exitCode: 1 | 2 = 2): RidepredError {
  if (e instanceof RidepredError) return e;
  const err = e as { name?: string; Code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  let what = err.Code ?? err.name ?? "Error";
  if (what === "NotFound" || what === "NoSuchKey" || (status === 404 && what === "UnknownError")) what = "no such object";
  else if (what === "CredentialsProviderError") what = "no AWS credentials found (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role)";
  else if (/Region is missing/i.test(err.message ?? "")) what = "no AWS region (set AWS_REGION)";
  else if (err.message && err.message !== what) what = `${what}: ${err.message}`;
  return new RidepredError(`${url}: ${doing}: ${what}`, exitCode);
}
