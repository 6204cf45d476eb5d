/** Exit codes shared by every command: 0 success, 1 the check or job failed, 2 usage or unreadable input. */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** An error meant for the user: its message says what was wrong, exitCode says how the process ends. */
export class RidepredError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = EXIT_USAGE,
  ) {
    super(message);
    this.name = "RidepredError";
  }
}

/** The user-facing error for a failed file operation: the path, what was being done, the OS's code. */
export function fileError(path: string, doing: string, e: unknown, exitCode: 1 | 2 = EXIT_USAGE): RidepredError {
  return new RidepredError(`${path}: ${doing}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, exitCode);
}

/** A ride the predictor cannot score: names the field and why. */
export class InputError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = "InputError";
  }
}
