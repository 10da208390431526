/**
 * A parser of server-sent events (the `text/event-stream` format): turns a fetch body into
 * frames of `id:`, `event:` and `data:` fields. Comments (`: keep-alive`) are skipped; several
 * `data:` lines of one frame are joined with "\n", as the format says.
 */

export interface SseFrame {
  id: string | null;
  event: string | null;
  data: string;
}

export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseFrame, void, undefined> {
  // A TextDecoder in streaming mode (not TextDecoderStream, whose typings differ between Node's and the DOM's libs).
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let id: string | null = null;
  let event: string | null = null;
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, "");
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
        if (line === "") {
          // A blank line ends the frame; a frame without data is not dispatched.
          if (data.length > 0) yield { id, event, data: data.join("\n") };
          event = null;
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const raw = colon < 0 ? "" : line.slice(colon + 1);
        const fieldValue = raw.startsWith(" ") ? raw.slice(1) : raw;
        if (field === "data") data.push(fieldValue);
        else if (field === "event") event = fieldValue;
        else if (field === "id") id = fieldValue;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
