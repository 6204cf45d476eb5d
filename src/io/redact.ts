// How a location may appear in messages, summaries and logs: never with a credential. A PostgreSQL URL
// loses its password; an http(s) URL its user:password@ and its query (pre-signed URLs carry their
// signature there); anything else is shown as given.

const PG = /^postgres(ql)?:\/\//i;
const HTTP = /^https?:\/\//i;

export function redactLocation(location: string): string {
  if (HTTP.test(location)) return redactHttpUrl(location);
  if (!PG.test(location)) return location;
  return location.replace(/^(postgres(?:ql)?:\/\/)([^@/?#]*)@/i, (_all, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(":");
    return `${scheme}${colon < 0 ? userinfo : userinfo.slice(0, colon)}@`;
  });
}

function redactHttpUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? "?..." : ""}`;
  } catch {
    return url.replace(/[?#].*$/s, "?...").replace(/\/\/[^/@]*@/, "//");
  }
}

/** The part of a location that names the file (its extension tells the format): a URL's path, without query or fragment. */
export function pathPart(location: string): string {
  if (!/^(https?|s3):\/\//i.test(location)) return location;
  try {
    return new URL(location).pathname;
  } catch {
    return location.replace(/[?#].*$/s, "");
  }
}
