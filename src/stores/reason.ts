/** What a page shows for a failed command: the server's reason, else the error's message. */
export function reasonOf(error: unknown): string {
  const reason = (error as { reason?: unknown } | null)?.reason
  if (typeof reason === 'string' && reason.length > 0) return reason
  return error instanceof Error ? error.message : String(error)
}
