// The one error a corrupt, truncated or hostile .nnz file raises: a single line saying what is wrong and where.
import { NnzipError } from '../../core/errors.js';

export class NnzFormatError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'NnzFormatError';
  }
}
