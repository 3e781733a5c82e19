// One photo on a zoomable, pannable stage (react-zoom-pan-pinch does the gestures), with the
// clinic's markers drawn over it as SVG in coordinates normalised to the photo (0…1).
//
// The page's toolbar drives a stage through window.miStages[stageId] (zoomIn, zoomOut, fit,
// actualSize, rotate, flip, reset); stages sharing a syncGroup keep zoom and pan in step.
import React, { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { TransformComponent, TransformWrapper } from "react-zoom-pan-pinch";

// The library adds step × |deltaY| to the scale: a step proportional to the scale makes one
// wheel notch (about 100 px) zoom by about 10% whatever the zoom already is.
const WHEEL_STEP = 0.001;

const OWN = "#facc15";
const OTHERS = "#22d3ee";

function registry(name) {
  if (typeof window === "undefined") return {};
  window[name] = window[name] || {};
  return window[name];
}

function clamp(value) {
  return Math.min(1, Math.max(0, value));
}

function arrowHead(x1, y1, x2, y2, size) {
  const angle = Math.atan2(y2 - y1, x2 - x1);
  const spread = Math.PI / 7;
  const a = [x2 - size * Math.cos(angle - spread), y2 - size * Math.sin(angle - spread)];
  const b = [x2 - size * Math.cos(angle + spread), y2 - size * Math.sin(angle + spread)];
  return `${x2},${y2} ${a[0]},${a[1]} ${b[0]},${b[1]}`;
}

function Marker({ mark, width, height, scale, selected, flipped, onPick, onGrab }) {
  const color = mark.mine ? OWN : OTHERS;
  const stroke = (selected ? 4 : 2.5) / scale;
  // One's own marker, once selected, can be dragged to a new place.
  const movable = selected && mark.mine && onGrab;
  const common = {
    "data-annotation-id": mark.id,
    "data-kind": mark.kind,
    "data-selected": selected ? "true" : "false",
    className: movable ? "photo-marker photo-marker-movable" : "photo-marker",
    style: { cursor: movable ? "move" : "pointer" },
    onClick: (event) => {
      event.stopPropagation();
      onPick(mark.id);
    },
    onPointerDown: movable
      ? (event) => {
          event.stopPropagation();
          onGrab(event, mark);
        }
      : undefined,
  };
  const x1 = mark.x1 * width;
  const y1 = mark.y1 * height;
  const x2 = mark.x2 * width;
  const y2 = mark.y2 * height;
  if (mark.kind === "arrow") {
    return (
      <g {...common}>
        <line x1={x1} y1={y1} x2={x2} y2={y2} stroke="rgba(0,0,0,0.55)" strokeWidth={stroke * 2.2} />
        <line x1={x1} y1={y1} x2={x2} y2={y2} stroke={color} strokeWidth={stroke} />
        <polygon points={arrowHead(x1, y1, x2, y2, 16 / scale)} fill={color} stroke="rgba(0,0,0,0.55)" strokeWidth={1 / scale} />
      </g>
    );
  }
  if (mark.kind === "ellipse") {
    const cx = (x1 + x2) / 2;
    const cy = (y1 + y2) / 2;
    const rx = Math.abs(x2 - x1) / 2;
    const ry = Math.abs(y2 - y1) / 2;
    return (
      <g {...common}>
        <ellipse cx={cx} cy={cy} rx={rx} ry={ry} fill="none" stroke="rgba(0,0,0,0.55)" strokeWidth={stroke * 2.2} />
        <ellipse cx={cx} cy={cy} rx={rx} ry={ry} fill="transparent" stroke={color} strokeWidth={stroke} />
      </g>
    );
  }
  // Text stays readable when the photo is mirrored: it is mirrored back around its anchor.
  const mirror = flipped ? `translate(${2 * x1} 0) scale(-1 1)` : undefined;
  return (
    <g {...common}>
      <text
        x={x1}
        y={y1}
        transform={mirror}
        fontSize={16 / scale}
        fontFamily="system-ui, sans-serif"
        fontWeight="600"
        fill={color}
        stroke="rgba(0,0,0,0.8)"
        strokeWidth={3 / scale}
        paintOrder="stroke"
        dominantBaseline="middle"
      >
        {mark.text}
      </text>
    </g>
  );
}

export function PhotoStage({
  stageId,
  imageId,
  src,
  fullSrc,
  imageWidth,
  imageHeight,
  previewWidth,
  previewHeight,
  annotations,
  showAnnotations,
  tool,
  selected,
  syncGroup,
  keyboard,
  refreshIn,
  refreshKey,
  onDraw,
  onNeedFull,
  onPick,
  onNavigate,
  onExpiring,
  onMove,
  height,
}) {
  const wrapper = useRef(null);
  const box = useRef(null);
  const [scale, setScale] = useState(1);
  const [zoom, setZoom] = useState(1); // relative to "fit": what the compare stages share
  const [rotation, setRotation] = useState(0);
  const [flipped, setFlipped] = useState(false);
  const [fullLoaded, setFullLoaded] = useState(false);
  const [draft, setDraft] = useState(null);
  // A marker being moved: where it started, where the pointer started, where it is now.
  const [moving, setMoving] = useState(null);
  const asked = useRef(false);
  const syncing = useRef(false);
  const width = previewWidth || 1;
  const tall = previewHeight || 1;
  const turned = rotation % 180 !== 0;
  const drawing = tool && tool !== "pan";
  const expiring = useRef(onExpiring);
  expiring.current = onExpiring;
  const dims = useRef({});
  dims.current = { turned, width, tall };

  // The view as the two compare stages share it, free of each photo's size: zoom relative to
  // "fit" and the centre of the screen in the photo's own (0…1) coordinates.
  const layout = () => {
    const inst = wrapper.current && wrapper.current.instance;
    const frame = inst && inst.wrapperComponent;
    if (!frame) return null;
    const d = dims.current;
    const cw = d.turned ? d.tall : d.width;
    const ch = d.turned ? d.width : d.tall;
    const ww = frame.offsetWidth;
    const wh = frame.offsetHeight;
    return { ww, wh, cw, ch, fit: Math.min(ww / cw, wh / ch) || 1 };
  };

  // A new photo starts upright, unmirrored and fitted; its full resolution is asked for anew.
  // (Renewed signed URLs of the same photo change nothing of the view.)
  useEffect(() => {
    setRotation(0);
    setFlipped(false);
    setDraft(null);
    setFullLoaded(false);
    asked.current = false;
  }, [imageId]);

  const fit = useCallback(() => {
    if (wrapper.current) wrapper.current.fitToView({ animationTime: 150 });
  }, []);

  useEffect(() => {
    const timer = setTimeout(fit, 30);
    return () => clearTimeout(timer);
  }, [rotation, imageId, fit]);

  const api = useMemo(
    () => ({
      zoomIn: () => wrapper.current && wrapper.current.zoomIn(0.5, 150),
      zoomOut: () => wrapper.current && wrapper.current.zoomOut(0.5, 150),
      fit,
      // One pixel of the stored original per screen pixel.
      actualSize: () => wrapper.current && wrapper.current.centerView((imageWidth || width) / width, 150),
      rotate: () => setRotation((r) => (r + 90) % 360),
      flip: () => setFlipped((f) => !f),
      reset: () => {
        setRotation(0);
        setFlipped(false);
        fit();
      },
    }),
    [fit, imageWidth, width],
  );

  useEffect(() => {
    const stages = registry("miStages");
    stages[stageId] = api;
    return () => {
      if (stages[stageId] === api) delete stages[stageId];
    };
  }, [stageId, api]);

  // Keyboard, for the main stage only: arrows move between photos, + − 0 r f change the view.
  useEffect(() => {
    if (!keyboard) return undefined;
    const onKey = (event) => {
      const target = event.target;
      const tag = target && target.tagName ? target.tagName.toLowerCase() : "";
      if (["input", "textarea", "select"].includes(tag) || (target && target.isContentEditable)) return;
      if (event.metaKey || event.ctrlKey || event.altKey) return;
      const actions = {
        ArrowRight: () => onNavigate && onNavigate(1),
        ArrowLeft: () => onNavigate && onNavigate(-1),
        "+": api.zoomIn,
        "=": api.zoomIn,
        "-": api.zoomOut,
        "0": api.fit,
        r: api.rotate,
        f: api.flip,
      };
      if (event.key === "Escape") {
        setDraft(null);
        setMoving(null);
        return;
      }
      const action = actions[event.key];
      if (action) {
        event.preventDefault();
        action();
      }
    };
    window.addEventListener("keydown", onKey);
    // Escape drops a marker being drawn or moved.
    return () => window.removeEventListener("keydown", onKey);
  }, [keyboard, api, onNavigate]);

  // Signed URLs are short-lived: ask the page for new ones before these run out. The timer
  // starts when a new batch of URLs arrives (refreshKey), not when another photo is shown.
  useEffect(() => {
    if (!refreshIn) return undefined;
    const timer = setTimeout(() => expiring.current && expiring.current(), Math.max(1000, refreshIn));
    return () => clearTimeout(timer);
  }, [refreshKey, refreshIn]);

  const onTransformed = useCallback(
    (ref, state) => {
      setScale(state.scale);
      // Past the preview's own resolution, the stored original is worth fetching.
      if (state.scale > 1.05 && (imageWidth || 0) > width && !fullSrc && !asked.current && onNeedFull) {
        asked.current = true;
        onNeedFull();
      }
      const l = layout();
      if (l) setZoom(state.scale / l.fit);
      if (!syncGroup || syncing.current || !l) return;
      const view = {
        zoom: state.scale / l.fit,
        x: (l.ww / 2 - state.positionX) / (state.scale * l.cw),
        y: (l.wh / 2 - state.positionY) / (state.scale * l.ch),
      };
      const group = registry("miSync")[syncGroup] || {};
      Object.entries(group).forEach(([id, other]) => {
        if (id !== stageId) other.follow(view);
      });
    },
    [imageWidth, width, fullSrc, onNeedFull, syncGroup, stageId],
  );

  useEffect(() => {
    if (!syncGroup) return undefined;
    const sync = registry("miSync");
    sync[syncGroup] = sync[syncGroup] || {};
    sync[syncGroup][stageId] = {
      follow: (view) => {
        const l = layout();
        if (!wrapper.current || !l) return;
        const s = view.zoom * l.fit;
        syncing.current = true;
        wrapper.current.setTransform(l.ww / 2 - view.x * s * l.cw, l.wh / 2 - view.y * s * l.ch, s, 0);
        setTimeout(() => {
          syncing.current = false;
        }, 0);
      },
    };
    return () => {
      if (sync[syncGroup]) delete sync[syncGroup][stageId];
    };
  }, [syncGroup, stageId]);

  // From a pointer on screen to the photo's normalised coordinates, undoing zoom, rotation and
  // mirroring: the centre of the photo's box is where it is on screen whatever the transform.
  const toPhoto = (event) => {
    const rect = box.current.getBoundingClientRect();
    const cx = rect.left + rect.width / 2;
    const cy = rect.top + rect.height / 2;
    const s = rect.width / (turned ? tall : width);
    let dx = (event.clientX - cx) / s;
    let dy = (event.clientY - cy) / s;
    const angle = (-rotation * Math.PI) / 180;
    const rx = dx * Math.cos(angle) - dy * Math.sin(angle);
    const ry = dx * Math.sin(angle) + dy * Math.cos(angle);
    dx = flipped ? -rx : rx;
    dy = ry;
    return { x: clamp(0.5 + dx / width), y: clamp(0.5 + dy / tall) };
  };

  const onPointerDown = (event) => {
    if (!drawing || event.button !== 0) return;
    event.stopPropagation();
    event.preventDefault();
    const at = toPhoto(event);
    if (tool === "text") {
      if (onDraw) onDraw({ kind: "text", x1: at.x, y1: at.y, x2: at.x, y2: at.y });
      return;
    }
    event.currentTarget.setPointerCapture(event.pointerId);
    setDraft({ kind: tool, x1: at.x, y1: at.y, x2: at.x, y2: at.y });
  };
  const dropGesture = () => {
    setDraft(null);
    setMoving((m) => (m && m.saved ? m : null));
  };
  const onGrab = (event, mark) => {
    if (drawing || !onMove) return;
    event.currentTarget.setPointerCapture(event.pointerId);
    setMoving({ from: toPhoto(event), mark, now: mark });
  };
  const moved = (event) => {
    const at = toPhoto(event);
    const dx = at.x - moving.from.x;
    const dy = at.y - moving.from.y;
    const m = moving.mark;
    // The whole marker moves, and stays on the photo.
    const sx = Math.min(Math.max(dx, -Math.min(m.x1, m.x2)), 1 - Math.max(m.x1, m.x2));
    const sy = Math.min(Math.max(dy, -Math.min(m.y1, m.y2)), 1 - Math.max(m.y1, m.y2));
    return { ...m, x1: m.x1 + sx, y1: m.y1 + sy, x2: m.x2 + sx, y2: m.y2 + sy };
  };
  const onPointerMove = (event) => {
    if (moving) {
      setMoving({ ...moving, now: moved(event) });
      return;
    }
    if (!draft) return;
    const at = toPhoto(event);
    setDraft({ ...draft, x2: at.x, y2: at.y });
  };
  const onPointerUp = (event) => {
    if (moving) {
      const m = moved(event);
      setMoving(Math.abs(m.x1 - moving.mark.x1) + Math.abs(m.y1 - moving.mark.y1) > 0.002 ? { ...moving, now: m, saved: true } : null);
      if (Math.abs(m.x1 - moving.mark.x1) + Math.abs(m.y1 - moving.mark.y1) > 0.002) {
        onMove({ id: m.id, x1: m.x1, y1: m.y1, x2: m.x2, y2: m.y2 });
      }
      return;
    }
    if (!draft) return;
    const at = toPhoto(event);
    const mark = { ...draft, x2: at.x, y2: at.y };
    setDraft(null);
    if (Math.abs(mark.x2 - mark.x1) + Math.abs(mark.y2 - mark.y1) > 0.01 && onDraw) onDraw(mark);
  };

  // Once the page sends the moved marker back, the local copy is dropped.
  useEffect(() => {
    setMoving((m) => (m && m.saved ? null : m));
  }, [annotations]);
  const marks = (showAnnotations ? annotations || [] : []).map((m) =>
    moving && moving.now.id === m.id ? moving.now : m,
  );
  const outer = turned ? { width: tall, height: width } : { width, height: tall };
  const inner = {
    position: "absolute",
    left: "50%",
    top: "50%",
    width,
    height: tall,
    transform: `translate(-50%, -50%) rotate(${rotation}deg) scaleX(${flipped ? -1 : 1})`,
  };
  const image = { position: "absolute", inset: 0, width, height: tall, userSelect: "none" };

  return (
    <div
      className="photo-stage"
      data-stage={stageId}
      data-rotation={rotation}
      data-tool={tool || "pan"}
      data-flipped={flipped ? "true" : "false"}
      data-scale={scale.toFixed(3)}
      data-zoom={zoom.toFixed(2)}
      data-full={fullLoaded ? "loaded" : fullSrc ? "loading" : "none"}
      style={{ width: "100%", height: height || "70vh", background: "#0b0d10", borderRadius: 8, overflow: "hidden", touchAction: "none" }}
    >
      <TransformWrapper
        ref={wrapper}
        minScale={0.05}
        maxScale={Math.max(8, (4 * (imageWidth || width)) / width)}
        limitToBounds={false}
        centerOnInit
        fitOnInit
        smooth
        wheel={{ step: WHEEL_STEP * scale }}
        panning={{ disabled: !!drawing || !!moving, excluded: ["photo-marker-movable"] }}
        doubleClick={{ disabled: !!drawing }}
        onTransform={onTransformed}
      >
        <TransformComponent wrapperStyle={{ width: "100%", height: "100%" }}>
          <div style={{ position: "relative", ...outer }}>
            <div ref={box} style={inner}>
              <img src={src} alt="" draggable={false} style={image} className="photo-preview" />
              {fullSrc ? (
                <img
                  src={fullSrc}
                  alt=""
                  draggable={false}
                  className="photo-full"
                  onLoad={() => setFullLoaded(true)}
                  style={{ ...image, opacity: fullLoaded ? 1 : 0 }}
                />
              ) : null}
              <svg
                className="photo-overlay"
                viewBox={`0 0 ${width} ${tall}`}
                width={width}
                height={tall}
                style={{ position: "absolute", inset: 0, cursor: drawing ? "crosshair" : "grab", overflow: "visible" }}
                onPointerDown={onPointerDown}
                onPointerMove={onPointerMove}
                onPointerUp={onPointerUp}
                onPointerCancel={dropGesture}
                onLostPointerCapture={(event) => (moving || draft) && event.pointerType !== "mouse" && dropGesture()}
              >
                {marks.map((mark) => (
                  <Marker
                    key={mark.id}
                    mark={mark}
                    width={width}
                    height={tall}
                    scale={scale}
                    flipped={flipped}
                    selected={mark.id === selected}
                    onPick={(id) => onPick && onPick(id)}
                    onGrab={onMove ? onGrab : null}
                  />
                ))}
                {draft ? (
                  <Marker mark={{ ...draft, id: "draft", mine: true, text: "" }} width={width} height={tall} scale={scale} flipped={flipped} selected={false} onPick={() => {}} />
                ) : null}
              </svg>
            </div>
          </div>
        </TransformComponent>
      </TransformWrapper>
    </div>
  );
}
