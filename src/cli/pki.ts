import type { Command } from 'commander';

// Placeholder: the easy-rsa compatible verbs land with the PKI work.
export function registerPki(_program: Command): void {}
