// The memory every request's decoded images may take at once (limits.maxDecodedBytes): a small file
// can hold a huge image (a 381 KB PNG of 7000×7000 16-bit RGBA decodes to 392 MB), so decoding is
// admitted by its decoded size, read from the header, against one budget shared by all requests.
// Too big for the whole budget: the client must send something smaller (413). Too big for what is
// free right now: retry shortly (503 + Retry-After), never wait holding a connection.

/** An image decodes to more than the whole budget: no retry can help (HTTP 413). */
export class DecodeTooLargeError extends Error {
  override name = "DecodeTooLargeError";
  constructor(readonly bytes: number, readonly budget: number) {
    super(`it decodes to ${bytes} bytes, more than the server's decoding budget of ${budget} bytes (maxDecodedBytes)`);
  }
}

/** The budget is taken by requests in flight (HTTP 503 + Retry-After). */
export class DecodeBudgetBusyError extends Error {
  override name = "DecodeBudgetBusyError";
  readonly retryAfterSeconds = 1;
  constructor(readonly bytes: number, readonly free: number, readonly budget: number) {
    super(`the server is decoding other images: ${bytes} bytes of decoded image do not fit in the ${free} of ${budget} bytes free now (maxDecodedBytes); retry in 1 s`);
  }
}

export interface Reservation {
  release(): void;
}

export class DecodeBudget {
  private used = 0;

  constructor(readonly totalBytes: number) {
    if (!(Number.isSafeInteger(totalBytes) && totalBytes > 0)) throw new RangeError(`the decoding budget must be a whole number of bytes > 0, got ${totalBytes}`);
  }

  /** Bytes reserved by decodes in flight. */
  get inUse(): number {
    return this.used;
  }

  /** Takes `bytes` of the budget until `release()` (idempotent), or throws DecodeTooLargeError / DecodeBudgetBusyError. */
  reserve(bytes: number): Reservation {
    if (bytes > this.totalBytes) throw new DecodeTooLargeError(bytes, this.totalBytes);
    if (this.used + bytes > this.totalBytes) throw new DecodeBudgetBusyError(bytes, this.totalBytes - this.used, this.totalBytes);
    this.used += bytes;
    let held = true;
    return {
      release: () => {
        if (held) this.used -= bytes;
        held = false;
      },
    };
  }
}
