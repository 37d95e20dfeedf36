// Runs a state machine definition with aws-local-stepfunctions, for the Go
// tests of internal/stack. Reads {"definition", "input", "url", "name" (the
// execution name)} on stdin;
// every Task state is answered by POSTing its effective input to url (the Go
// test's server), which answers {"result": ...} or {"error", "cause"}.
// Prints {"status", "output", "error", "cause"} on stdout.

// aws-local-stepfunctions 3.0.0 calls Promise.withResolvers (Node 22+).
Promise.withResolvers ??= function () { let resolve, reject; const promise = new Promise((a, b) => { resolve = a; reject = b; }); return { promise, resolve, reject }; };

const { StateMachine } = await import('aws-local-stepfunctions');

let raw = '';
for await (const chunk of process.stdin) raw += chunk;
const { definition, input, url, name } = JSON.parse(raw);

async function task(stateName, taskInput) {
  const res = await fetch(url + '/' + encodeURIComponent(stateName), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(taskInput),
  });
  const answer = await res.json();
  if (answer.error) {
    const err = new Error(answer.cause ?? '');
    err.name = answer.error;
    throw err;
  }
  return answer.result;
}

const handlers = {};
const collect = (states) => {
  for (const [name, s] of Object.entries(states)) {
    if (s.Type === 'Task') handlers[name] = (i) => task(name, i);
    if (s.Type === 'Map') collect((s.ItemProcessor ?? s.Iterator).States);
  }
};
collect(definition.States);

const sm = new StateMachine(definition, { validationOptions: { checkPaths: true } });
const retryIntervalOverrides = Object.fromEntries(Object.keys(handlers).map((n) => [n, 0]));
const execution = sm.run(input, { overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides }, context: { Execution: { Name: name } } });
try {
  const output = await execution.result;
  process.stdout.write(JSON.stringify({ status: 'SUCCEEDED', output }));
} catch (e) {
  process.stdout.write(JSON.stringify({ status: 'FAILED', error: e.name, cause: e.message }));
}
