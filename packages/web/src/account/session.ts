import { TributaryApiError } from '@tributary/client';
import { api, type Limits, type User } from './api';

type Listener = () => void;

/**
 * Who the app is signed in as, and the caller's limits, outside React. Sign-in uses cookie
 * sessions; the access cookie is refreshed before it expires (and once at start, since the
 * refresh cookie outlives it).
 */
export class AuthSession {
  user: User | undefined;
  limits: Limits | undefined;
  ready = false;
  private version = 0;
  private readonly listeners = new Set<Listener>();
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;

  subscribe = (l: Listener): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  getVersion = (): number => this.version;

  private initialising: Promise<void> | undefined;

  /** Once per page (React may run effects twice). */
  init(): Promise<void> {
    this.initialising ??= this.load();
    return this.initialising;
  }

  private async load(): Promise<void> {
    try {
      this.user = await api<User>('GET', '/v1/me');
    } catch (err) {
      if (!(err instanceof TributaryApiError) || err.status !== 401) throw err;
      await this.refresh();
    }
    this.ready = true;
    await this.refreshLimits();
  }

  async signUp(email: string, password: string): Promise<void> {
    this.started(await api<{ user: User; expiresIn: number }>('POST', '/v1/auth/register', { email, password, session: 'cookie' }));
    await this.refreshLimits();
  }

  async signIn(email: string, password: string): Promise<void> {
    this.started(await api<{ user: User; expiresIn: number }>('POST', '/v1/auth/login', { email, password, session: 'cookie' }));
    await this.refreshLimits();
  }

  async signOut(): Promise<void> {
    await api('POST', '/v1/auth/logout').catch(() => undefined);
    this.ended();
    await this.refreshLimits();
  }

  /** After the account was erased: the cookies are already cleared. */
  async forget(): Promise<void> {
    this.ended();
    await this.refreshLimits();
  }

  async refreshLimits(): Promise<void> {
    try {
      this.limits = await api<Limits>('GET', '/v1/me/limits');
    } catch (err) {
      // A session that died meanwhile: fall back to anonymous once.
      if (err instanceof TributaryApiError && err.status === 401 && this.user) {
        this.ended();
        this.limits = await api<Limits>('GET', '/v1/me/limits').catch(() => undefined);
      }
    }
    this.changed();
  }

  private async refresh(): Promise<void> {
    try {
      this.started(await api<{ user: User; expiresIn: number }>('POST', '/v1/auth/refresh', {}));
    } catch {
      // Another tab may have rotated the shared cookies a moment ago: the session may still be live.
      try {
        this.started({ user: await api<User>('GET', '/v1/me'), expiresIn: 60 });
      } catch {
        this.ended();
      }
    }
  }

  private started(answer: { user: User; expiresIn: number }): void {
    this.user = answer.user;
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.refresh(), Math.max(10, answer.expiresIn * 0.8) * 1000);
    this.changed();
  }

  private ended(): void {
    this.user = undefined;
    clearTimeout(this.refreshTimer);
    this.changed();
  }

  private changed(): void {
    this.version += 1;
    for (const l of this.listeners) l();
  }
}

/** The app's one session, shared by the workspace and the account page. */
export const auth = new AuthSession();

/** A sentence for a refused request: limits say what and until when. */
export function refusalMessage(err: unknown): string {
  if (!(err instanceof TributaryApiError)) return (err as Error).message;
  const body = err.body as { limit?: string; max?: number; resetAt?: string; class?: string } | undefined;
  if (err.code === 'rate_limited' && body?.max === 0) return err.message;
  if (err.code === 'rate_limited' && body?.resetAt) {
    const at = new Date(body.resetAt).toLocaleString();
    const what =
      body.limit === 'responses_per_day'
        ? `all ${body.max} model responses for today`
        : body.limit === 'requests_per_minute'
          ? `all ${body.max} requests for this minute`
          : `your ${body.limit?.replaceAll('_', ' ')} (${body.max})`;
    return `Limit reached: you have used ${what}. It resets at ${at}.${auth.user ? '' : ' Sign in (Account tab) for more.'}`;
  }
  if (err.code === 'authentication_required') return `${err.message} This server does not serve anonymous visitors: sign in on the Account tab.`;
  if (err.code === 'too_many_models' && body?.class === 'anonymous') return `${err.message} Sign in (Account tab) to compare more at once.`;
  return err.message;
}
