// "Use my location": only when the shopper presses the button, and rounded before sending.
(function () {
  "use strict";
  var form = document.getElementById("place-form");
  var button = document.getElementById("use-location");
  if (!form || !button || !navigator.geolocation) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.geolocation.getCurrentPosition(function (position) {
      form.elements.lat.value = position.coords.latitude.toFixed(1);
      form.elements.lon.value = position.coords.longitude.toFixed(1);
      form.submit();
    }, function () { button.disabled = true; }, { maximumAge: 600000, timeout: 10000 });
  });
})();
