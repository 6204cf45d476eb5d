// The commands the committed deployment examples run, read from the files themselves so that the tests
// run what a reader would deploy.

/** A Kubernetes container's `args:` list items (up to its `command:`), comments and indentation dropped. */
export function containerArgs(yaml: string): string[] {
  return yaml
    .slice(yaml.indexOf("args:"), yaml.indexOf("command:"))
    .split("\n")
    .filter((l) => /^\s+- /.test(l))
    .map((l) =>
      l
        .replace(/^\s+- /, "")
        .replace(/\s+#.*$/, "")
        .trim(),
    );
}
