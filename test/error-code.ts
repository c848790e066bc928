// Test support (not shipped): what a rejected call was refused with.
import { isCodedError } from "@debian-bootc/core";

/** The code of the CodedError `promise` rejects with, or "no error"; any other exception is rethrown. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "no error";
  } catch (error) {
    if (!isCodedError(error)) throw error;
    return error.code;
  }
}
