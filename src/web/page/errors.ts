// What to tell a person about a failed call: a short headline by status, then the API's own
// message (it already says what to change), then the status and code for a bug report.
import { ApiFailure } from "./api.ts";
import { h } from "./dom.ts";

function headline(e: ApiFailure): string {
  switch (e.status) {
    case 0:
      return "The server could not be reached.";
    case 401:
      return "This server needs an API key: paste one in the API key field.";
    case 403:
      return "This API key may not do that.";
    case 404:
      return e.code === "unknown_model" ? "Unknown model." : "Not found.";
    case 413:
      return "Too large.";
    case 415:
      return "Not an image (or not a format the server reads).";
    case 503:
      if (e.code === "queue_full") return `The server is busy: its queue is full.${retry(e)}`;
      if (e.code === "model_not_ready") return `The model is not ready yet.${retry(e)}`;
      return `The service is unavailable.${retry(e)}`;
    case 504:
      return "The caption took too long.";
  }
  return e.status >= 500 ? "The server failed." : "The request was refused.";
}

const retry = (e: ApiFailure) => (e.retryAfter ? ` Try again in ${e.retryAfter} s.` : " Try again shortly.");

/** The error's content for the page's alert region. */
export function errorContent(error: unknown): HTMLElement {
  const e = error instanceof ApiFailure ? error : new ApiFailure(0, "page_error", error instanceof Error ? error.message : String(error));
  return h(
    "p",
    {},
    h("strong", {}, headline(e)),
    " ",
    h("span", { class: "error-message" }, e.message),
    e.status > 0 ? h("span", { class: "error-code" }, ` (HTTP ${e.status}, ${e.code})`) : null,
  );
}
