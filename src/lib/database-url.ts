/** True for a `postgres://` or `postgresql://` database URL (NEO_DATABASE_URL); anything else is SQLite. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}
