import type { ChatMessage } from '../llm/provider.js';
import type { ConversationMessage } from '../store/types.js';

/**
 * What one model sees of a conversation: every user turn and only its own earlier answers
 * (answers with no model apply to all), then the new prompt. At most `window` earlier
 * messages are kept; `dropped` says how many were left out.
 */
export function contextFor(
  model: string,
  history: Pick<ConversationMessage, 'role' | 'content' | 'modelId'>[],
  prompt: string,
  window: number,
): { messages: ChatMessage[]; dropped: number } {
  const own = history.filter((m) => m.role === 'user' || m.modelId === null || m.modelId === model);
  const kept = window > 0 ? own.slice(-window) : [];
  // A window that starts with an answer would show the model a reply to nothing.
  while (kept[0]?.role === 'assistant') kept.shift();
  const messages: ChatMessage[] = kept.map((m) => ({ role: m.role, content: m.content }));
  messages.push({ role: 'user', content: prompt });
  return { messages, dropped: own.length - kept.length };
}
