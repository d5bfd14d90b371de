// The memory every request's decoded images may take at once (limits.maxDecodedBytes): a small file
// can hold a huge image (a 381 KB PNG of 7000×7000 16-bit RGBA decodes to 392 MB), so decoding is
// admitted by its decoded size, read from the header, against one budget shared by all requests.
// Too big for the whole budget: the client must send something smaller (413). Too big for what is
// free right now: retry shortly (503 + Retry-After), never wait holding a connection. Background work
// (job runs) is not interactive: it waits its turn instead (`acquire`).

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

interface Waiter {
  bytes: number;
  grant: (reservation: Reservation) => void;
}

export class DecodeBudget {
  private used = 0;
  /** Background decodes waiting for room, first come first served. */
  private readonly waiting: Waiter[] = [];

  constructor(readonly totalBytes: number) {
    if (!(Number.isSafeInteger(totalBytes) && totalBytes > 0)) throw new RangeError(`the decoding budget must be a whole number of bytes > 0, got ${totalBytes}`);
  }

  /** Bytes reserved by decodes in flight. */
  get inUse(): number {
    return this.used;
  }

  /** Background decodes waiting for room. */
  get waiters(): number {
    return this.waiting.length;
  }

  /** Takes `bytes` of the budget until `release()` (idempotent), or throws DecodeTooLargeError / DecodeBudgetBusyError. */
  reserve(bytes: number): Reservation {
    if (bytes > this.totalBytes) throw new DecodeTooLargeError(bytes, this.totalBytes);
    if (this.used + bytes > this.totalBytes) throw new DecodeBudgetBusyError(bytes, this.totalBytes - this.used, this.totalBytes);
    return this.take(bytes);
  }

  /**
   * Takes `bytes` once they are free, waiting behind earlier waiters (jobs: waiting is cheaper than
   * failing and retrying). Throws DecodeTooLargeError at once for more than the whole budget; an
   * abort of `signal` stops the wait with the signal's reason. Interactive `reserve`s do not queue:
   * they take what is free, so a waiter is served at the first release that leaves room for it.
   */
  acquire(bytes: number, signal?: AbortSignal): Promise<Reservation> {
    if (bytes > this.totalBytes) return Promise.reject(new DecodeTooLargeError(bytes, this.totalBytes));
    signal?.throwIfAborted();
    if (this.waiting.length === 0 && this.used + bytes <= this.totalBytes) return Promise.resolve(this.take(bytes));
    return new Promise<Reservation>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        grant: (reservation) => {
          signal?.removeEventListener("abort", abort);
          resolve(reservation);
        },
      };
      const abort = () => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(signal!.reason);
        this.serveWaiting(); // the next waiter may fit where this one did not
      };
      signal?.addEventListener("abort", abort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private take(bytes: number): Reservation {
    this.used += bytes;
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.used -= bytes;
        this.serveWaiting();
      },
    };
  }

  private serveWaiting(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0]!.bytes <= this.totalBytes) {
      const waiter = this.waiting.shift()!;
      waiter.grant(this.take(waiter.bytes));
    }
  }
}
