// Preflight (PRODUCT.md, "Publishing"): before a post is accepted, every target is checked against its network's
// declared rules (`NetworkPublishing.rules`, `optionsSchema`, `check`). A target that cannot take the post is
// refused at once, with every problem in plain words — never accepted now and failed later.
import type { z } from 'zod';
import type { MediaKind, NetworkAdapter, PublishAccount, PublishContainer, PublishingRules } from '../providers/types.ts';
import { COUNTING_UNIT, textLength } from './text-length.ts';

const KIND_NAMES: Record<MediaKind, string> = { image: 'images', gif: 'GIFs', video: 'videos' };

function megabytes(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
}

/** Problems with the containers under these rules; empty when the network can take them. */
export function checkContainers(rules: PublishingRules, containers: PublishContainer[], displayName: string): string[] {
  const problems: string[] = [];
  if (containers.length > 1 && rules.laterContainers === 'none') {
    problems.push(`${displayName} takes one post at a time: it has no threads or comments for the ${containers.length - 1} later part(s)`);
  }
  if (rules.maxContainers && containers.length > rules.maxContainers) {
    problems.push(`${displayName} takes at most ${rules.maxContainers} parts in one post; this one has ${containers.length}`);
  }
  const first = containers[0];
  if (rules.media.required && first) {
    const wanted = rules.media.required === 'video' ? first.media.some((m) => m.kind === 'video') : first.media.length > 0;
    if (!wanted) problems.push(`${displayName} needs ${rules.media.required === 'video' ? 'a video' : 'an image or a video'} in the post`);
  }
  for (const container of containers) {
    const where = containers.length > 1 ? `part ${container.index + 1}: ` : '';
    const later = container.index > 0;
    const max = later ? (rules.text.maxLengthLater ?? rules.text.maxLength) : rules.text.maxLength;
    const length = textLength(container.text, rules.text.counting);
    if (length > max) problems.push(`${where}the text is ${length} ${COUNTING_UNIT[rules.text.counting]} long; ${displayName} takes at most ${max}`);
    if (!container.text.trim() && !container.media.length) problems.push(`${where}there is neither text nor media`);
    if (!container.media.length) continue;
    if (later && !rules.laterContainersMedia) {
      problems.push(`${where}${displayName} ${rules.laterContainers === 'comments' ? 'comments' : 'replies'} cannot carry media`);
      continue;
    }
    if (container.media.length > rules.media.maxItems) {
      problems.push(`${where}${container.media.length} media items; ${displayName} takes at most ${rules.media.maxItems} in one post`);
    }
    const kinds = new Set(container.media.map((m) => m.kind));
    if (kinds.size > 1 && !rules.media.mixKinds) {
      problems.push(`${where}${displayName} does not mix ${[...kinds].map((k) => KIND_NAMES[k]).join(' and ')} in one post`);
    }
    for (const kind of kinds) {
      const rule = rules.media[kind];
      const items = container.media.filter((m) => m.kind === kind);
      if (!rule) {
        problems.push(`${where}${displayName} does not take ${KIND_NAMES[kind]}`);
        continue;
      }
      if (items.length > rule.maxCount) problems.push(`${where}${items.length} ${KIND_NAMES[kind]}; ${displayName} takes at most ${rule.maxCount}`);
      for (const m of items) {
        const name = `${m.filename}`;
        if (!rule.contentTypes.includes(m.contentType)) {
          problems.push(`${where}${name} is ${m.contentType}; ${displayName} takes ${rule.contentTypes.join(', ')} for ${KIND_NAMES[kind]}`);
        }
        if (m.size > rule.maxBytes) problems.push(`${where}${name} is ${megabytes(m.size)}; ${displayName} takes ${KIND_NAMES[kind]} up to ${megabytes(rule.maxBytes)}`);
        const d = m.durationSeconds;
        if (d !== null && rule.minSeconds !== undefined && d < rule.minSeconds) problems.push(`${where}${name} lasts ${d.toFixed(1)} s; ${displayName} needs at least ${rule.minSeconds} s`);
        if (d !== null && rule.maxSeconds !== undefined && d > rule.maxSeconds) problems.push(`${where}${name} lasts ${Math.round(d)} s; ${displayName} takes at most ${rule.maxSeconds} s`);
        if (m.width !== null && m.height !== null) {
          if ((rule.minWidth && m.width < rule.minWidth) || (rule.minHeight && m.height < rule.minHeight)) {
            problems.push(`${where}${name} is ${m.width}×${m.height}; ${displayName} needs at least ${rule.minWidth ?? 0}×${rule.minHeight ?? 0}`);
          }
          if ((rule.maxWidth && m.width > rule.maxWidth) || (rule.maxHeight && m.height > rule.maxHeight)) {
            problems.push(`${where}${name} is ${m.width}×${m.height}; ${displayName} takes at most ${rule.maxWidth ?? '∞'}×${rule.maxHeight ?? '∞'}`);
          }
          const ratio = m.width / m.height;
          if ((rule.minAspectRatio && ratio < rule.minAspectRatio) || (rule.maxAspectRatio && ratio > rule.maxAspectRatio)) {
            problems.push(`${where}${name} has an aspect ratio of ${ratio.toFixed(2)}; ${displayName} takes ${rule.minAspectRatio ?? 0}–${rule.maxAspectRatio ?? '∞'}`);
          }
        }
      }
    }
  }
  return problems;
}

export interface PreflightTarget {
  adapter: NetworkAdapter;
  account: PublishAccount;
}

/** Validates one network's options; returns the parsed options and problems in plain words. */
export function checkOptions(adapter: NetworkAdapter, raw: unknown): { options: Record<string, unknown>; problems: string[] } {
  const schema = adapter.publishing?.optionsSchema;
  if (!schema) return { options: (raw as Record<string, unknown>) ?? {}, problems: [] };
  const parsed = (schema as z.ZodType<Record<string, unknown>>).safeParse(raw ?? {});
  if (parsed.success) return { options: parsed.data, problems: [] };
  return {
    options: {},
    problems: parsed.error.issues.map((i) => `${adapter.network}.${i.path.join('.') || '(options)'}: ${i.message}`),
  };
}

/** Every problem this target has with the post; empty when it can take it. */
export function preflightTarget(target: PreflightTarget, containers: PublishContainer[], rawOptions: unknown): string[] {
  const { adapter, account } = target;
  const publishing = adapter.publishing;
  if (!publishing) return [`Publishing to ${adapter.displayName} is not available yet`];
  const { options, problems } = checkOptions(adapter, rawOptions);
  problems.push(...checkContainers(publishing.rules, containers, adapter.displayName));
  if (publishing.check) problems.push(...publishing.check({ containers, options, account }));
  return problems;
}
