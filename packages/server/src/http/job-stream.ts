import type { FastifyReply } from 'fastify';
import type { JobService, Requester } from '../jobs/job-service.js';
import { isTerminal, jobTopic, type JobView } from '../jobs/types.js';
import type { StreamHub, Subscription } from '../streams/hub.js';
import type { Position, StartAt } from '../streams/types.js';
import { nativeFrames } from '../transports/comparison-frames.js';
import { encodeSseFrame } from '../transports/sse-frame.js';
import { SseResponse, SseSink, type SseOptions } from '../transports/sse-stream.js';
import { hijack } from './hijack.js';

export interface JobStreamDeps {
  hub: StreamHub;
  jobs: JobService;
  sse: Omit<SseOptions, 'headers'>;
}

const snapshotFrame = (view: JobView) => encodeSseFrame({ event: 'job.snapshot', data: JSON.stringify(view) });
const recoveryFrame = (info: object, view?: JobView) =>
  encodeSseFrame({ event: 'recovery', data: JSON.stringify({ ...info, ...(view ? { snapshot: view } : {}) }) });
const doneFrame = (view: JobView) =>
  encodeSseFrame({ event: 'job.done', data: JSON.stringify({ status: view.status, counts: view.counts, progress: view.progress }) });

/**
 * A job's topic as SSE. A new client gets `job.snapshot` (the state from the database) then
 * every event after it; a resuming client (`Last-Event-ID`) gets what it missed, or — after a
 * restart or a trimmed history — `recovered:false` with the snapshot, then live events. The
 * response ends after `job.done`. Never a silent gap: the top is read before the snapshot,
 * so an event is either in the snapshot or after the subscription's start (or both).
 */
export async function streamJob(deps: JobStreamDeps, reply: FastifyReply, id: string, requester: Requester, last: Position | undefined): Promise<void> {
  const { hub, jobs } = deps;
  const topic = jobTopic(id);
  let start: StartAt;
  let first: string;
  let view: JobView | undefined;
  const recovery = last ? await hub.recover(topic, { from: 'position', position: last }) : undefined;
  if (last && recovery?.recovered) {
    const job = await jobs.require(id, requester);
    // The client holds the last event of an ended job: 204 stops EventSource reconnecting.
    if (recovery.events.length === 0 && isTerminal(job.status)) {
      reply.code(204).send();
      return;
    }
    start = { from: 'position', position: last };
    first = recoveryFrame({ recovered: true, top: recovery.top, replayed: recovery.events.length });
  } else {
    const top = (await hub.recover(topic, { from: 'top' })).top;
    view = await jobs.view(id, requester);
    start = top.epoch === '' ? { from: 'start' } : { from: 'position', position: top };
    first = recovery && !recovery.recovered ? recoveryFrame({ recovered: false, reason: recovery.reason, top: recovery.top }, view) : snapshotFrame(view);
  }
  hijack(reply);
  const sse = new SseResponse(reply.raw, { ...deps.sse, headers: { 'X-Job-Id': id } });
  sse.write(first);
  // Ended, and nothing newer in this process's log: the snapshot is the whole story.
  if (view && isTerminal(view.status)) {
    const newer = start.from === 'start' ? undefined : await hub.recover(topic, start);
    if (!newer?.recovered || newer.events.length === 0) {
      sse.write(doneFrame(view));
      sse.end();
      return;
    }
  }
  let subscription: Subscription | undefined;
  let gone = false;
  let done = false;
  reply.raw.on('close', () => {
    gone = true;
    subscription?.close();
  });
  const sink = new SseSink(
    sse,
    (event) => {
      const frame = nativeFrames.event(event);
      if (event.type === 'job.done') {
        done = true;
        queueMicrotask(() => subscription?.close());
      }
      return frame;
    },
    (info) => {
      // A topic this process has not published yet: the snapshot already told the client everything.
      if (info.recovered || (start.from === 'start' && info.reason === 'unknown_topic')) return '';
      return recoveryFrame({ recovered: false, reason: info.reason, top: info.top });
    },
  );
  subscription = await hub.subscribe(topic, start, sink);
  if (gone || done) subscription.close();
}
