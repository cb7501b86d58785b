/**
 * The text of a release notice, as instances publish it: the release's tag
 * and, when tickets wait, the oldest live one ("<tag> <ticket>"): the
 * waiter that goes next. Only that waiter needs to wake; the others would
 * be refused in its favour. Tags and tickets never contain spaces.
 */
export interface ReleaseNotice {
  tag: string;
  /** The oldest waiting ticket when the lock was released; undefined: none, wake anyone. */
  next: string | undefined;
}

export function formatNotice(tag: string, next: string | undefined): string {
  return next === undefined ? tag : `${tag} ${next}`;
}

export function parseNotice(message: string): ReleaseNotice {
  const space = message.indexOf(" ");
  return space < 0
    ? { tag: message, next: undefined }
    : { tag: message.slice(0, space), next: message.slice(space + 1) };
}
