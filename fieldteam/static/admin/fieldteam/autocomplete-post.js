// The admin's autocompletes send what is typed by POST, never in the URL: a citizen ID or phone
// number typed into a resident field must not reach an address bar, a proxy or the access log.
// The server side is fieldteam.admin.base.PostedAutocompleteJsonView; CSRF applies as to any form.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var $ = window.django && window.django.jQuery;
  if (!$ || !$.fn.select2) {
    return; // no autocomplete on this page
  }
  var token = document.querySelector("input[name=csrfmiddlewaretoken]");
  $.fn.select2.defaults.set("ajax--transport", function (params, success, failure) {
    params.type = "POST";
    params.headers = { "X-CSRFToken": token ? token.value : "" };
    var request = $.ajax(params);
    request.then(success);
    request.fail(failure);
    return request;
  });
});
