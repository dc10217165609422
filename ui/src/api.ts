// The one door to Rust: the generated commands, unwrapped so a failed command throws an error
// carrying the UI error's kind and message.
import { commands, events, type UiError } from "./bindings.gen";
import { sentence } from "./format";

/** What every generated command resolves to. */
type Result<T, E> = { status: "ok"; data: T } | { status: "error"; error: E };

export { commands, events };

/** A command's error, as thrown by [`call`]. */
export class CommandError extends Error {
  constructor(readonly error: UiError) {
    super(error.message);
    this.name = "CommandError";
  }
}

/** Awaits a command and returns its data, or throws its error. */
export async function call<T>(pending: Promise<Result<T, UiError>>): Promise<T> {
  const result = await pending;
  if (result.status === "ok") return result.data;
  throw new CommandError(result.error);
}

/** What to tell the user about any thrown value, as a sentence of its own. */
export function messageOf(err: unknown): string {
  return sentence(reasonOf(err));
}

/** The same, as Rust wrote it, to follow a colon: `Cannot copy: ${reasonOf(err)}`. */
export function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
