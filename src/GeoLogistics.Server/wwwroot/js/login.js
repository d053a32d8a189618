// Sign-in: the server answers with an HttpOnly cookie this page never sees; then the dashboard opens.
const form = document.getElementById('login-form');
const error = document.getElementById('login-error');
const button = form.querySelector('button');
button.disabled = false;

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.textContent = '';
  const email = form.email.value.trim();
  const password = form.password.value;
  if (!email || !password) {
    error.textContent = 'Enter your email and password.';
    return;
  }
  button.disabled = true;
  try {
    const response = await fetch('/api/auth/session', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password }),
      credentials: 'same-origin',
    });
    if (response.ok) {
      location.replace('/dashboard');
      return;
    }
    const problem = await response.json().catch(() => ({}));
    error.textContent = response.status === 429
      ? `Too many attempts. Try again in ${response.headers.get('Retry-After') ?? 'a few'} seconds.`
      : (problem.detail ?? 'Sign-in failed.');
  } catch {
    error.textContent = 'The server cannot be reached.';
  } finally {
    button.disabled = false;
  }
});
