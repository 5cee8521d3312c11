// Free text cut to fit a CRD's maxLength, so that one long message never gets a status write refused.

/** `text` cut to at most `max` UTF-16 units, ending in "…" when cut, never inside a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // the first half of a surrogate pair
  return `${text.slice(0, end)}…`;
}
