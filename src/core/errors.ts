// Errors a user can act on: the CLI prints their message as one line and exits 1, without a stack trace.

export class NnzipError extends Error {
  constructor(message: string) {
    super(oneLine(message));
    this.name = 'NnzipError';
  }
}

/**
 * The message with its control characters escaped: messages quote names and text from the files read (a tensor name,
 * a CSV field, an .npy header), which may hold line breaks, and must still print as one line.
 */
export function oneLine(message: string): string {
  return message.replace(/[\x00-\x1f\x7f\u2028\u2029]/g, (c) => (c.charCodeAt(0) < 0x100 ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u${c.charCodeAt(0).toString(16)}`));
}

/** A model (or one of its parts) breaks a rule of the ONNX format or of the graph. */
export class ValidationError extends NnzipError {
  constructor(message: string, readonly problems: string[] = [message]) {
    super(message);
    this.name = 'ValidationError';
  }
}
