// pino JSON logs with no secrets in them. URLs are the risk: start tokens and selection sessions travel in
// paths, codes and state in query strings. Requests are logged with their query values dropped and any long
// opaque path segment masked; credential headers are never serialized.
import pino, { type Logger } from 'pino';

const SECRET_LOOKING_SEGMENT = /^[A-Za-z0-9_.~-]{32,}$/;
// The sandbox's interaction ids double as its cookie values: shorter than 32 characters, still secret.
const SECRET_AFTER = new Set(['interaction', 'auth']);

export function redactUrl(url: string): string {
  const [path, query] = url.split('?', 2);
  const segments = path.split('/');
  const maskedPath = segments
    .map((segment, i) => (SECRET_LOOKING_SEGMENT.test(segment) || (segment && SECRET_AFTER.has(segments[i - 1])) ? '[redacted]' : segment))
    .join('/');
  if (!query) return maskedPath;
  const keys = [...new URLSearchParams(query).keys()];
  return `${maskedPath}?${keys.map((k) => `${k}=…`).join('&')}`;
}

interface LoggableRequest {
  method: string;
  url: string;
  id?: string;
  ip?: string;
  routeOptions?: { url?: string };
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      serializers: {
        req: (req: LoggableRequest) => ({ method: req.method, url: redactUrl(req.url), route: req.routeOptions?.url }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        err: pino.stdSerializers.err,
      },
      // Defence in depth for anything that logs an object carrying credentials.
      redact: {
        paths: [
          'headers.authorization',
          'headers.cookie',
          'headers["x-api-key"]',
          '*.access_token',
          '*.refresh_token',
          '*.client_secret',
          '*.accessToken',
          '*.refreshToken',
          '*.clientSecret',
          '*.password',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
