// The model a server answers with. Requests read `current` once, so a reload that swaps it is atomic:
// a request is scored entirely by the old model or entirely by the new one, never half and half.
import { RidepredError } from "../errors.js";
import { loadModel, type LoadedModel } from "../runtime/load.js";

export interface ReloadResult {
  ok: boolean;
  path: string;
  /** The model now serving (the new one when ok, the old one otherwise). */
  version?: string;
  digest?: string;
  error?: string;
}

export interface ModelState {
  /** null until the first model has loaded and reproduced its golden examples: readiness is this. */
  current: LoadedModel | null;
  readonly path: string;
  /** Load and verify the artifact at `path` (default: the one being served); swap only if it passes. */
  reload(path?: string): ReloadResult;
  /** Called after every reload attempt (metrics and logs hang off this). */
  onReload?: (r: ReloadResult) => void;
}

export function modelState(path: string, load: (path: string) => LoadedModel = loadModel): ModelState {
  const state: ModelState = {
    current: null,
    path,
    reload(p = path) {
      let result: ReloadResult;
      try {
        const next = load(p); // throws unless readable, valid, digest-checked and golden examples reproduce
        state.current = next;
        result = { ok: true, path: p, version: next.artifact.version, digest: next.artifact.digest };
      } catch (e) {
        const message = e instanceof RidepredError ? e.message : `${p}: ${(e as Error)?.message ?? String(e)}`;
        const old = state.current;
        result = { ok: false, path: p, error: message, version: old?.artifact.version, digest: old?.artifact.digest };
      }
      state.onReload?.(result);
      return result;
    },
  };
  return state;
}
