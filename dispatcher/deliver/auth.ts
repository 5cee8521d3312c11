// Authentication headers for the receiver: a fresh HS256 JWT (iat, exp) per request, an API
// key, HTTP Basic, or a static bearer token.
import { SignJWT } from 'jose';

export type AuthConfig =
  | { kind: 'jwt'; secret: string; expirationMs: number; header: string }
  | { kind: 'apiKey'; key: string; header: string }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'bearer'; token: string };

/** Only a JWT is signed asynchronously; the other methods answer at once, and the delivery path need not wait. */
export type Authenticator = (now: Date) => Record<string, string> | Promise<Record<string, string>>;

const NONE: Record<string, string> = Object.freeze({});

export function createAuthenticator(config: AuthConfig | undefined): Authenticator {
  if (!config) return () => NONE;
  switch (config.kind) {
    case 'jwt': {
      const key = new TextEncoder().encode(config.secret);
      return async (now) => {
        const issuedAt = Math.floor(now.getTime() / 1000);
        const token = await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .setIssuedAt(issuedAt)
          .setExpirationTime(Math.floor((now.getTime() + config.expirationMs) / 1000))
          .sign(key);
        return { [config.header]: `Bearer ${token}` };
      };
    }
    case 'apiKey': {
      const headers = { [config.header]: config.key };
      return () => headers;
    }
    case 'basic': {
      const value = `Basic ${Buffer.from(`${config.username}:${config.password}`).toString('base64')}`;
      const headers = { Authorization: value };
      return () => headers;
    }
    case 'bearer': {
      const headers = { Authorization: `Bearer ${config.token}` };
      return () => headers;
    }
  }
}
