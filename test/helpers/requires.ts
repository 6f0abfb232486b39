/**
 * Tests that need something this machine may lack (a private mount namespace, openssl): where it is missing the test
 * is registered as skipped with the reason in its title, and under CI=true as a failing test, so CI never turns green
 * on a check it did not run.
 */
import test, { type ImplementationFn } from 'ava';

type Register = (title: string, implementation: ImplementationFn<[]>) => void;

export interface ConditionalTest extends Register {
  serial: Register;
}

/** `test` itself when `missing` is undefined (nothing is missing); see the module comment otherwise. */
export function requiring(missing: string | undefined): ConditionalTest {
  if (!missing) return Object.assign((title: string, impl: ImplementationFn<[]>) => test(title, impl), { serial: test.serial });
  if (process.env.CI) {
    const failing: Register = (title, _impl) => test(title, (t) => t.fail(`${missing}: CI must be able to run this test`));
    return Object.assign(failing, { serial: failing });
  }
  const skipped: Register = (title, impl) => test.skip(`${title} [skipped: ${missing}]`, impl);
  return Object.assign(skipped, { serial: skipped });
}
