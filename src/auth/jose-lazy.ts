// jose is loaded at the first login, not when the daemon starts: a daemon without `login` never
// opens its module files (dozens of them at once; the daemon once failed to start under a low
// descriptor limit for want of them).
type Jose = typeof import('jose');

let loading: Promise<Jose> | undefined;

export function loadJose(): Promise<Jose> {
  return (loading ??= import('jose'));
}
