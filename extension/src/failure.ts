// What a failed call comes down to, for the sentences the popup and the uploader show.
import { Code, ConnectError } from "@connectrpc/connect";
import { isNetworkFailure } from "./messages";

/** The error as Connect gives it, and the code to explain it by. */
export function failure(err: unknown): { error: ConnectError; code: Code } {
  const error = ConnectError.from(err);
  // A refused connection reaches Connect as fetch's TypeError ("Failed to fetch"): code Unknown.
  const code = error.code === Code.Unknown && isNetworkFailure(error.rawMessage) ? Code.Unavailable : error.code;
  return { error, code };
}

/** ResourceExhausted is either the owner's quota or a recording past the size or length limit. */
export const isQuota = (error: ConnectError) => /quota/i.test(error.rawMessage);
