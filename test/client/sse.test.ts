/** The SSE frame parser: chunk boundaries anywhere, CRLF, comments, multi-line data. */
import { describe, expect, it } from "vitest";
import { parseSse } from "../../src/client/sse.ts";
import type { SseFrame } from "../../src/client/sse.ts";

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function frames(chunks: string[]): Promise<SseFrame[]> {
  const out: SseFrame[] = [];
  for await (const frame of parseSse(streamOf(chunks))) out.push(frame);
  return out;
}

describe("parseSse", () => {
  const text = ": belay events\n\nid: 1\nevent: belay.job.created\ndata: {\"a\":1}\n\n: keep-alive\n\nid: 2\r\nevent: x\r\ndata: line one\r\ndata:line two\r\n\r\ndata: no id\n\n";
  const expected: SseFrame[] = [
    { id: "1", event: "belay.job.created", data: '{"a":1}' },
    { id: "2", event: "x", data: "line one\nline two" },
    { id: "2", event: null, data: "no id" },
  ];

  it("parses id, event and data, skipping comments", async () => {
    expect(await frames([text])).toEqual(expected);
  });

  it("gives the same frames whatever the chunk boundaries", async () => {
    for (const size of [1, 2, 3, 7, 16]) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
      expect(await frames(chunks)).toEqual(expected);
    }
  });

  it("drops an unfinished frame at the end of the stream", async () => {
    expect(await frames(["data: complete\n\ndata: cut"])).toEqual([{ id: null, event: null, data: "complete" }]);
  });
});
