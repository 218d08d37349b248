// Submits the SAML POST form on load; with scripts off the visible Continue button does the same.
document.getElementById("saml-post")?.submit();
