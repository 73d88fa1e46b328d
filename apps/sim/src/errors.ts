/** The app's usage error: a bad option, value or profile. The CLI prints its message and exits with code 2. */
export class SimUsageError extends Error {
  override readonly name = 'SimUsageError';
}
