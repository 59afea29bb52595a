// Reading HTML form posts (@fastify/formbody: a field is a string, or an array when repeated) through Zod.
import { z } from 'zod';

/** One value of a field that may have been sent several times (the first wins). */
export const field = z.preprocess((v) => (Array.isArray(v) ? v[0] : v) ?? '', z.string());

/** A field sent zero, one or several times (checkboxes) as a list. */
export const listField = z.preprocess((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]), z.array(z.string()));

/** Splits a textarea or text field into its non-empty words or lines. */
export const splitWords = (value: string) => value.split(/[\s,]+/).filter(Boolean);
export const splitLines = (value: string) => value.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);

/** The first problem of a failed parse, in plain words with the field's label. */
export function firstProblem(error: z.ZodError, labels: Record<string, string>): string {
  const issue = error.issues[0];
  const key = String(issue?.path[0] ?? '');
  return `${labels[key] ?? key}: ${issue?.message ?? 'is not valid'}`;
}
