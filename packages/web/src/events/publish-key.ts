// The publish key is a server secret: it lives in this tab's sessionStorage only, never localStorage.
const KEY = 'tributary.publishKey';

export function loadPublishKey(): string {
  try {
    return sessionStorage.getItem(KEY) ?? '';
  } catch {
    return '';
  }
}

export function savePublishKey(value: string): void {
  try {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  } catch {
    // Storage unavailable: the key works for this page view only.
  }
}
