// Inspector look-up by camera: decode QR frames in the browser, then open the dossier.
// Without a camera (or JavaScript) the typed code and the photo upload do the same job.
(function () {
  "use strict";
  var box = document.querySelector("[data-dossier-url]");
  if (!box || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  var video = document.getElementById("camera-video");
  var start = document.getElementById("camera-start");
  var status = document.getElementById("camera-status");
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });
  start.hidden = false;

  function loadDecoder(done) {
    if (window.jsQR) return done();
    var script = document.createElement("script");
    script.src = box.getAttribute("data-decoder");
    script.onload = done;
    document.head.appendChild(script);
  }

  function scan() {
    if (video.readyState === video.HAVE_ENOUGH_DATA) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var frame = context.getImageData(0, 0, canvas.width, canvas.height);
      var found = window.jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "dontInvert" });
      if (found && found.data) {
        video.srcObject.getTracks().forEach(function (track) { track.stop(); });
        window.location.href = box.getAttribute("data-dossier-url") + "?code=" + encodeURIComponent(found.data);
        return;
      }
    }
    window.requestAnimationFrame(scan);
  }

  start.addEventListener("click", function () {
    loadDecoder(function () {
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
        video.srcObject = stream;
        video.hidden = false;
        video.play();
        start.hidden = true;
        window.requestAnimationFrame(scan);
      }).catch(function (error) { status.textContent = String(error); });
    });
  });
})();
