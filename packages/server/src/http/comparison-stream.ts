import type { FastifyReply } from 'fastify';
import type { ComparisonService } from '../compare/comparison-service.js';
import { comparisonTopic } from '../compare/events.js';
import { TributaryError } from '../errors.js';
import type { StreamHub, Subscription } from '../streams/hub.js';
import type { StartAt } from '../streams/types.js';
import type { ComparisonFrames } from '../transports/comparison-frames.js';
import { SseResponse, SseSink, type SseOptions } from '../transports/sse-stream.js';
import { hijack } from './hijack.js';

export interface ComparisonStreamDeps {
  hub: StreamHub;
  comparisons: ComparisonService;
  sse: Omit<SseOptions, 'headers'>;
}

/**
 * Streams a comparison's topic from `start` as SSE, live until its final event. A finished
 * comparison is replayed from history, or — when history cannot serve the position — the
 * client gets `recovered:false` with the stored state. Never a silent gap.
 */
export async function streamComparison(
  deps: ComparisonStreamDeps,
  reply: FastifyReply,
  opts: { id: string; conversationId?: string; start: StartAt; frames: ComparisonFrames },
): Promise<void> {
  const { hub, comparisons } = deps;
  const { id, start, frames } = opts;
  const topic = comparisonTopic(id);
  const resuming = start.from === 'position';

  await hub.ready(); // a dependency away answers 503 here, before the stream's 200
  const where = await comparisons.whereRunning(id);
  if (!where) {
    const snapshot = await comparisons.snapshot(id);
    if (!snapshot) throw new TributaryError('comparison_not_found', `No comparison ${id}.`);
    // Interrupted by a crash: its topic ends with a final event marking the unfinished models.
    const ended = snapshot.status === 'interrupted' ? await comparisons.interruptedEnd(snapshot) : undefined;
    const recovery = await hub.recover(topic, start);
    // The client already holds the final event: 204 tells EventSource to stop reconnecting.
    if (resuming && recovery.recovered && recovery.events.length === 0 && recovery.finished) {
      reply.code(204).send();
      return;
    }
    hijack(reply);
    const sse = new SseResponse(reply.raw, { ...deps.sse, inlineRetry: frames.inlineRetry, headers: headersFor(id, snapshot.conversationId) });
    if (ended) {
      // The streamed events died with the old process: the snapshot holds their text.
      const reason = recovery.recovered ? 'history_truncated' : recovery.reason;
      sse.write(frames.recovery({ recovered: false, reason, top: { epoch: ended.epoch, seq: ended.seq } }, snapshot));
      sse.write(frames.event(ended));
    } else if (recovery.recovered) {
      if (resuming) sse.write(frames.recovery({ recovered: true, top: recovery.top, replayed: recovery.events.length }));
      for (const event of recovery.events) sse.write(frames.event(event));
    } else {
      sse.write(frames.recovery({ recovered: false, reason: recovery.reason, top: recovery.top }, snapshot));
    }
    sse.end();
    return;
  }

  // Run by another node: its topic is shared; a resume that history cannot serve gets the state read from it.
  const remote = where === 'here' ? undefined : resuming ? await comparisons.snapshot(id) : undefined;
  hijack(reply);
  const conversationId = opts.conversationId ?? (where === 'here' ? comparisons.liveSnapshot(id)?.conversationId : where.conversationId) ?? '';
  const sse = new SseResponse(reply.raw, { ...deps.sse, inlineRetry: frames.inlineRetry, headers: headersFor(id, conversationId) });
  let subscription: Subscription | undefined;
  let gone = false;
  reply.raw.on('close', () => {
    gone = true;
    subscription?.close();
  });
  const sink = new SseSink(sse, frames.event, (info) => {
    if (!info.recovered) return frames.recovery(info, comparisons.liveSnapshot(id) ?? remote);
    return resuming ? frames.recovery(info) : '';
  });
  subscription = await hub.subscribe(topic, start, sink);
  if (gone) subscription.close();
}

function headersFor(id: string, conversationId: string): Record<string, string> {
  return { 'X-Comparison-Id': id, 'X-Conversation-Id': conversationId };
}
