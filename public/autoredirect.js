// Follows the SAML Redirect-binding link on load. A navigation by script is a GET, which CSP
// form-action does not govern (a redirect after a form post is). With scripts off, the visible
// Continue link does the same. replace(): Back does not land on this page and send it again.
const link = document.getElementById("saml-redirect");
if (link instanceof HTMLAnchorElement) location.replace(link.href);
