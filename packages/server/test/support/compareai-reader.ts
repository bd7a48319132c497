/**
 * How CompareAI's app reads a stream: decode, split the buffer on blank lines, keep messages
 * that start with `data: `, strip that prefix and JSON-parse the rest of the message. Self-
 * contained (no imports, no outer names) so a browser test can inject its source into a page.
 */
export async function readLikeCompareAi(
  body: ReadableStream<Uint8Array>,
  on: { event(json: any): void; parseError?(message: string): void; skipped?(message: string): void },
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    const messages = buffer.split('\n\n');
    buffer = messages.pop() ?? '';
    for (const message of messages) {
      if (!message.trim() || !message.startsWith('data: ')) {
        on.skipped?.(message);
        continue;
      }
      let json: any;
      try {
        json = JSON.parse(message.replace(/^data: /, ''));
      } catch {
        on.parseError?.(message);
        continue;
      }
      on.event(json);
    }
  }
}
