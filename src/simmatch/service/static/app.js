// simmatch playground: plain JavaScript, no build step, no request to any other host.
// Every number shown comes from this service's own endpoints (relative paths, so the page also
// works behind a path prefix); the page only orders, formats and draws them. The one computation
// of its own is the 2-D PCA of the Embed tab: the service has no projection endpoint.
"use strict";

(() => {
  const KEY_STORE = "simmatch-api-key"; // sessionStorage only: gone when the tab closes
  const LANG_STORE = "simmatch-lang";

  // The four examples of the ModelScope sentence-embedding widget (CoROM / GTE model cards).
  const EXAMPLES = [
    {
      source: "功和功率的区别",
      candidates: [
        "功反映做功多少，功率反映做功快慢。",
        "什么是有功功率和无功功率?无功功率有什么用什么是有功功率和无功功率?无功功率有什么用电力系统中的电源是由发电机产生的三相正弦交流电,在交流电路中,由电源供给负载的电功率有两种;一种是有功功率,一种是无功功率.",
        "优质解答在物理学中,用电功率表示消耗电能的快慢．电功率用P表示,它的单位是瓦特（Watt）,简称瓦（Wa）符号是W.电流在单位时间内做的功叫做电功率 以灯泡为例,电功率越大,灯泡越亮.灯泡的亮暗由电功率（实际功率）决定,不由通过的电流、电压、电能决定!",
      ],
    },
    {
      source: "什么是桥",
      candidates: [
        "由全国科学技术名词审定委员会审定的科技名词“桥”的定义为：跨越河流、山谷、障碍物或其他交通线而修建的架空通道",
        "桥是一种连接两岸的建筑",
        "转向桥，是指承担转向任务的车桥。一般汽车的前桥是转向桥。四轮转向汽车的前后桥，都是转向桥。",
        "桥梁艺术研究桥梁美学效果的艺术。起源于人类修建桥梁的实践。作为一种建筑，由于功能不同、使用材料有差别，桥梁表现为不同的结构和形式。基本的有拱桥、梁桥和吊桥。",
      ],
    },
    {
      source: "福鼎在哪个市",
      candidates: [
        "福鼎是福建省宁德市福鼎市。",
        "福鼎位于福建省东北部，东南濒东海，水系发达，岛屿星罗棋布。除此之外，福鼎地貌丰富，著名的太姥山就在福鼎辖内，以峰险、石奇、洞幽、雾幻四绝著称于世。",
        "福鼎市人民政府真诚的欢迎国内外朋友前往迷人的太姥山观光、旅游。",
        "福建省福鼎市桐山街道,地处福鼎城区,地理环境优越,三面环山,东临大海,境内水陆交通方便,是福鼎政治、经济、文化、交通中心区。",
      ],
    },
    {
      source: "吃完海鲜可以喝牛奶吗?",
      candidates: [
        "不可以，早晨喝牛奶不科学",
        "吃了海鲜后是不能再喝牛奶的，因为牛奶中含得有维生素C，如果海鲜喝牛奶一起服用会对人体造成一定的伤害",
        "吃海鲜是不能同时喝牛奶吃水果，这个至少间隔6小时以上才可以。",
        "吃海鲜是不可以吃柠檬的因为其中的维生素C会和海鲜中的矿物质形成砷",
      ],
    },
  ];

  const DEFAULT_PAIRS = [
    ["吃完海鲜可以喝牛奶吗?", "吃了海鲜后是不能再喝牛奶的"],
    ["什么是桥", "桥是一种连接两岸的建筑"],
    ["福鼎在哪个市", "福鼎是福建省宁德市福鼎市。"],
    ["How are you today?", "What a good day for a walk."],
  ];

  const DEFAULT_EMBED_TEXTS = [
    "吃完海鲜可以喝牛奶吗?",
    "海鲜和牛奶能一起吃吗",
    "Can I drink milk after eating seafood?",
    "什么是桥",
    "桥是一种连接两岸的建筑",
    "A bridge is built across a river.",
    "今天天气怎么样",
    "What is the weather like today?",
  ];

  const TEXT = {
    en: {
      title: "playground",
      language: "Language",
      apiDocs: "API reference (/docs)",
      modelsLabel: "Models",
      loading: "loading…",
      keyLabel: "API key",
      keySave: "Use this key",
      keyNote:
        "This service needs an API key. It is kept in this tab's session storage only and sent as 'Authorization: Bearer …' to this service.",
      keyInUse: "Using the API key from this tab's session.",
      keyForget: "Forget key",
      tabCompare: "Compare",
      tabSimilarity: "Similarity",
      tabSearch: "Search",
      tabEmbed: "Embed",
      compareIntro: "Cosine similarity of each sentence with the source sentence (POST /compare), best first.",
      examples: "Examples",
      exampleTitle: "Load example {0}",
      sourceLabel: "Source sentence",
      candidatesLabel: "Sentences to compare (one per line)",
      compareRun: "Compare",
      rank: "Rank",
      sentence: "Sentence",
      score: "Score",
      cosineHeader: "Cosine",
      comparedBy: "Scored by {0} (cosine of embeddings), best first.",
      pairsLegend: "Pairs",
      pairAdd: "Add a pair",
      pairA: "Pair {0}, text A",
      pairB: "Pair {0}, text B",
      pairRemove: "Remove pair {0}",
      similarityRun: "Score the pairs",
      simCross: "Each pair is classified by the cross-encoder {0} (labels: {1}): a label and one probability per label.",
      simCrossRegression: "Each pair is scored by the regression cross-encoder {0}: one score, no labels.",
      simCosine:
        "No cross-encoder is loaded: each pair is scored by the cosine of its two embeddings ({0}). There are no labels or probabilities; start the service with --cross-encoder PATH for them.",
      methodCross: "Method: cross-encoder {0}",
      methodCosine: "Method: cosine of embeddings ({0}), no cross-encoder loaded",
      textA: "Text A",
      textB: "Text B",
      label: "Label",
      probabilities: "Probabilities",
      none: "—",
      regression: "regression",
      queryLabel: "Query",
      modeLabel: "Mode",
      topKLabel: "Top k",
      rerankLabel: "Rerank with the cross-encoder",
      rerankTopKLabel: "Candidates to rerank",
      rerankNeedsCross: "Reranking needs a cross-encoder (--cross-encoder PATH).",
      filterLabel: 'Metadata filter (JSON, optional), e.g. {"lang": "zh"}',
      searchRun: "Search",
      noIndex: "No index is loaded: start the service with --index PATH to search one.",
      indexNote: "Searching the index {0} ({1} documents).",
      filterNotJson: "the metadata filter is not valid JSON: {0}",
      fromPage: "page",
      hitsSummary: "{0} hits · mode {1}",
      id: "ID",
      text: "Text",
      metadata: "Metadata",
      stages: "Stages",
      stage: "Stage",
      stageRank: "rank",
      stageScore: "score",
      stage_dense: "dense",
      stage_bm25: "BM25",
      stage_fusion: "fusion (RRF)",
      stage_first_stage: "first stage",
      stage_rerank: "rerank",
      embedIntro: "Embeddings of each text (POST /v1/embeddings): their dimension and norm, and a 2-D map of them.",
      textsLabel: "Texts (one per line)",
      kindLabel: "Input type (the prompt the model uses)",
      embedRun: "Embed",
      embedSummary: "{0} texts embedded by {1}: {2} dimensions each, {3} tokens in all.",
      dims: "Dimensions",
      norm: "Norm",
      firstValues: "First values",
      pcaCaption:
        "PCA of the embeddings, computed in this page (the service has no projection endpoint): the first component explains {0}% of the variance, the second {1}%.",
      pcaNeedsTwo: "The 2-D map needs at least two texts.",
      embedder: "embedder",
      crossEncoder: "cross-encoder",
      dimsShort: "dims",
      labels: "labels",
      index: "index",
      documents: "documents",
      noIndexChip: "no index",
      networkError: "the service did not answer: {0}",
      modelsError: "cannot list the models",
      footer: "This page calls only this service's own endpoints; nothing is loaded from elsewhere.",
    },
    zh: {
      title: "演示页",
      language: "语言",
      apiDocs: "接口文档 (/docs)",
      modelsLabel: "模型",
      loading: "加载中…",
      keyLabel: "API 密钥",
      keySave: "使用此密钥",
      keyNote: "此服务需要 API 密钥。密钥只保存在本标签页的会话存储中，并以 'Authorization: Bearer …' 发送给本服务。",
      keyInUse: "正在使用本标签页会话中的 API 密钥。",
      keyForget: "清除密钥",
      tabCompare: "句子比较",
      tabSimilarity: "相似度",
      tabSearch: "检索",
      tabEmbed: "向量",
      compareIntro: "每个句子与源句子的余弦相似度（POST /compare），从高到低排列。",
      examples: "示例",
      exampleTitle: "载入示例 {0}",
      sourceLabel: "源句子",
      candidatesLabel: "待比较句子（每行一句）",
      compareRun: "比较",
      rank: "名次",
      sentence: "句子",
      score: "分数",
      cosineHeader: "余弦相似度",
      comparedBy: "由 {0} 打分（向量余弦相似度），从高到低。",
      pairsLegend: "句子对",
      pairAdd: "添加一对",
      pairA: "第 {0} 对，文本 A",
      pairB: "第 {0} 对，文本 B",
      pairRemove: "删除第 {0} 对",
      similarityRun: "计算相似度",
      simCross: "每对句子由交叉编码器 {0} 分类（标签：{1}）：给出标签及每个标签的概率。",
      simCrossRegression: "每对句子由回归交叉编码器 {0} 打分：只有分数，没有标签。",
      simCosine:
        "未加载交叉编码器：每对句子的分数是两个向量的余弦相似度（{0}），没有标签和概率；用 --cross-encoder PATH 启动服务即可得到它们。",
      methodCross: "方法：交叉编码器 {0}",
      methodCosine: "方法：向量余弦相似度（{0}），未加载交叉编码器",
      textA: "文本 A",
      textB: "文本 B",
      label: "标签",
      probabilities: "概率",
      none: "—",
      regression: "回归",
      queryLabel: "查询",
      modeLabel: "检索方式",
      topKLabel: "返回条数",
      rerankLabel: "用交叉编码器重排",
      rerankTopKLabel: "参与重排的候选数",
      rerankNeedsCross: "重排需要交叉编码器（--cross-encoder PATH）。",
      filterLabel: '元数据过滤（JSON，可选），例如 {"lang": "zh"}',
      searchRun: "检索",
      noIndex: "未加载索引：用 --index PATH 启动服务后才能检索。",
      indexNote: "检索索引 {0}（共 {1} 篇文档）。",
      filterNotJson: "元数据过滤不是合法的 JSON：{0}",
      fromPage: "本页",
      hitsSummary: "{0} 条结果 · 方式 {1}",
      id: "ID",
      text: "文本",
      metadata: "元数据",
      stages: "各阶段",
      stage: "阶段",
      stageRank: "名次",
      stageScore: "分数",
      stage_dense: "向量",
      stage_bm25: "BM25",
      stage_fusion: "融合 (RRF)",
      stage_first_stage: "第一阶段",
      stage_rerank: "重排",
      embedIntro: "每段文本的向量（POST /v1/embeddings）：维度、范数，以及二维分布图。",
      textsLabel: "文本（每行一段）",
      kindLabel: "输入类型（模型使用的前缀）",
      embedRun: "生成向量",
      embedSummary: "{1} 为 {0} 段文本生成向量：每个 {2} 维，共 {3} 个词元。",
      dims: "维度",
      norm: "范数",
      firstValues: "前几个分量",
      pcaCaption: "向量的主成分分析（PCA），在本页计算（服务没有投影接口）：第一主成分解释 {0}% 的方差，第二主成分解释 {1}%。",
      pcaNeedsTwo: "二维分布图至少需要两段文本。",
      embedder: "向量模型",
      crossEncoder: "交叉编码器",
      dimsShort: "维",
      labels: "标签",
      index: "索引",
      documents: "篇文档",
      noIndexChip: "无索引",
      networkError: "服务没有响应：{0}",
      modelsError: "无法列出模型",
      footer: "本页只调用本服务自己的接口，不从其他地方加载任何内容。",
    },
  };

  const $ = (id) => document.getElementById(id);
  const state = {
    lang: "en",
    models: null, // GET /models
    schema: null, // GET /openapi.json (defaults and choices of the request fields)
    pairs: DEFAULT_PAIRS.map((p) => p.slice()),
    renders: {}, // tab → function that redraws its last answer (on a language change)
  };

  function t(key, ...args) {
    let s = (TEXT[state.lang] && TEXT[state.lang][key]) || TEXT.en[key] || key;
    args.forEach((a, i) => {
      s = s.split(`{${i}}`).join(String(a));
    });
    return s;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  const fmt = (x, digits = 4) => (typeof x === "number" ? x.toFixed(digits) : String(x));
  const lines = (text) =>
    text
      .split("\n")
      .map((s) => s.replace(/\r$/, ""))
      .filter((s) => s.trim() !== "");

  function bar(value) {
    const width = Math.max(0, Math.min(1, value)) * 100;
    return el("div", { class: "bar", "aria-hidden": "true" }, el("span", { style: `width:${width.toFixed(1)}%` }));
  }

  // ------------------------------------------------------------------------------------ API
  class ApiError extends Error {
    constructor(status, type, message, param) {
      super(message);
      this.status = status;
      this.type = type;
      this.param = param;
    }
  }

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const key = sessionStorage.getItem(KEY_STORE);
    if (key) headers.Authorization = `Bearer ${key}`;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (exc) {
      throw new ApiError(0, "network", t("networkError", exc.message), null);
    }
    const raw = await response.text();
    let data = null;
    try {
      data = JSON.parse(raw);
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const detail = data && data.error;
      const error = detail
        ? new ApiError(response.status, detail.type, detail.message, detail.param)
        : new ApiError(response.status, null, raw || response.statusText, null);
      if (response.status === 401) showKeyPanel(error.message);
      throw error;
    }
    return data;
  }

  // The service's message as it is, with the status and error type before it.
  function showError(tab, error) {
    const box = $(`${tab}-error`);
    box.replaceChildren(
      el("span", { class: "status" }, error.status ? `${error.status} ${error.type || ""}`.trim() : error.type),
      el("span", { class: "message" }, error.message),
    );
    box.hidden = false;
  }

  function clearError(tab) {
    const box = $(`${tab}-error`);
    box.hidden = true;
    box.replaceChildren();
  }

  // Runs one request of a tab: busy while it runs; ``data-done`` counts finished runs.
  async function run(tab, request, render) {
    const form = $(`${tab}-form`);
    const output = $(`${tab}-output`);
    const button = $(`${tab}-run`);
    clearError(tab);
    form.setAttribute("aria-busy", "true");
    button.disabled = true;
    try {
      const answer = await request();
      state.renders[tab] = () => render(answer);
      render(answer);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      showError(tab, error);
    } finally {
      form.removeAttribute("aria-busy");
      button.disabled = false;
      output.dataset.done = String(Number(output.dataset.done || 0) + 1);
    }
  }

  // -------------------------------------------------------------------------------- API key
  function showKeyPanel(message) {
    $("key-panel").hidden = false;
    $("key-problem").textContent = message;
    $("key-status").hidden = true;
  }

  function setupKey() {
    $("key-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const key = $("api-key").value.trim();
      if (key) sessionStorage.setItem(KEY_STORE, key);
      else sessionStorage.removeItem(KEY_STORE);
      $("api-key").value = "";
      loadModels();
    });
    $("key-forget").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORE);
      loadModels();
    });
  }

  // --------------------------------------------------------------------------------- models
  async function loadModels() {
    const box = $("models");
    try {
      state.models = await api("GET", "models");
    } catch (error) {
      state.models = null;
      box.replaceChildren(el("span", { class: "muted" }, `${t("modelsError")}: ${error.message}`));
      box.dataset.loaded = "error";
      renderNotes();
      if (error.status === 401 && document.activeElement === document.body) $("api-key").focus();
      return;
    }
    $("key-panel").hidden = true;
    $("key-status").hidden = !sessionStorage.getItem(KEY_STORE);
    try {
      state.schema = await api("GET", "openapi.json");
      applySchemaDefaults();
    } catch (_) {
      state.schema = null; // the fields keep the choices written in the page
    }
    renderModels();
    renderNotes();
  }

  function embedderCard() {
    return state.models && state.models.data.find((m) => m.role === "embedder");
  }

  function crossCard() {
    return state.models && state.models.data.find((m) => m.role === "cross-encoder");
  }

  function renderModels() {
    const box = $("models");
    if (!state.models) return;
    const chips = state.models.data.map((m) => {
      const parts =
        m.role === "embedder"
          ? [m.id, t("embedder"), m.backend, `${m.dim} ${t("dimsShort")}`]
          : [m.id, t("crossEncoder"), m.regression ? t("regression") : `${t("labels")} ${(m.labels || []).join(", ")}`];
      return el("span", { class: "model-chip", dataset: { role: m.role, id: m.id } }, parts.join(" · "));
    });
    const index = state.models.index;
    chips.push(
      el(
        "span",
        { class: "model-chip", dataset: { role: "index" } },
        index ? `${t("index")} ${index.name} · ${index.documents} ${t("documents")}` : t("noIndexChip"),
      ),
    );
    box.replaceChildren(...chips);
    box.dataset.loaded = "ok";
  }

  // Request-field choices and defaults from the service's own OpenAPI schema.
  function applySchemaDefaults() {
    const schemas = (state.schema && state.schema.components && state.schema.components.schemas) || {};
    const search = (schemas.SearchRequest && schemas.SearchRequest.properties) || {};
    setChoices($("search-mode"), search.mode);
    if (search.top_k && search.top_k.default !== undefined) $("search-top-k").value = search.top_k.default;
    if (search.rerank_top_k && search.rerank_top_k.default !== undefined)
      $("search-rerank-top-k").value = search.rerank_top_k.default;
    const embed = (schemas.EmbeddingRequest && schemas.EmbeddingRequest.properties) || {};
    setChoices($("embed-kind"), embed.input_type);
  }

  function setChoices(select, prop) {
    if (!prop) return;
    const choices = prop.enum || (prop.anyOf || []).flatMap((p) => p.enum || []);
    if (choices.length) {
      const keep = select.value;
      select.replaceChildren(...choices.map((c) => el("option", { value: c }, c)));
      select.value = choices.includes(keep) ? keep : choices[0];
    }
    if (prop.default !== undefined) select.value = prop.default;
  }

  function renderNotes() {
    const emb = embedderCard();
    const cross = crossCard();
    // Similarity: which method will score the pairs, said plainly.
    let note = "";
    if (cross) note = cross.regression ? t("simCrossRegression", cross.id) : t("simCross", cross.id, cross.labels.join(", "));
    else if (emb) note = t("simCosine", emb.id);
    $("similarity-method-note").textContent = note;
    // Search: only with an index; rerank only with a cross-encoder.
    const index = state.models && state.models.index;
    const searchNote = $("search-note");
    searchNote.textContent = !state.models ? "" : index ? t("indexNote", index.name, index.documents) : t("noIndex");
    searchNote.dataset.index = index ? "yes" : "no";
    for (const node of $("search-form").querySelectorAll("input, select, button")) node.disabled = !index;
    const rerank = $("search-rerank");
    if (index && !cross) {
      rerank.checked = false;
      rerank.disabled = true;
    }
    $("search-rerank-note").textContent = index && !cross ? t("rerankNeedsCross") : "";
    $("search-rerank-top-k").disabled = !index || !rerank.checked;
  }

  // -------------------------------------------------------------------------------- compare
  function setupCompare() {
    const box = $("compare-examples");
    EXAMPLES.forEach((ex, i) => {
      const button = el("button", { type: "button", dataset: { example: String(i) } }, ex.source);
      button.addEventListener("click", () => {
        loadExample(i);
        $("compare-source").focus();
      });
      box.append(button);
    });
    loadExample(3);
    $("compare-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const source = $("compare-source").value;
      const candidates = lines($("compare-candidates").value);
      run(
        "compare",
        () => api("POST", "compare", { source_sentence: source, sentences_to_compare: candidates }),
        (answer) => renderCompare(candidates, answer),
      );
    });
  }

  function loadExample(i) {
    $("compare-source").value = EXAMPLES[i].source;
    $("compare-candidates").value = EXAMPLES[i].candidates.join("\n");
  }

  function renderCompare(candidates, answer) {
    // Best first; equal scores keep their input order (as the library's ranking does).
    const order = answer.scores.map((s, i) => i).sort((a, b) => answer.scores[b] - answer.scores[a] || a - b);
    const list = el("ol", { class: "ranked", id: "compare-results" });
    order.forEach((i, rank) => {
      const score = answer.scores[i];
      list.append(
        el(
          "li",
          { dataset: { index: String(i), score: String(score) } },
          el("span", { class: "rank" }, `${rank + 1}`),
          el("span", { class: "text" }, candidates[i]),
          bar(score),
          el("span", { class: "score num" }, fmt(score)),
        ),
      );
    });
    $("compare-output").replaceChildren(el("p", { class: "muted" }, t("comparedBy", answer.model)), list);
  }

  // ----------------------------------------------------------------------------- similarity
  function setupSimilarity() {
    renderPairs();
    $("pair-add").addEventListener("click", () => {
      state.pairs.push(["", ""]);
      renderPairs();
      $(`pair-a-${state.pairs.length - 1}`).focus();
    });
    $("similarity-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const pairs = state.pairs.filter(([a, b]) => a.trim() !== "" || b.trim() !== "");
      run(
        "similarity",
        () => api("POST", "similarity", { pairs }),
        (answer) => renderSimilarity(pairs, answer),
      );
    });
  }

  function renderPairs() {
    const box = $("pairs");
    box.replaceChildren(
      ...state.pairs.map((pair, i) => {
        const field = (side, j) => {
          const id = `pair-${side}-${i}`;
          const input = el("input", { id, type: "text" });
          input.value = pair[j];
          input.addEventListener("input", () => {
            state.pairs[i][j] = input.value;
          });
          return el("div", {}, el("label", { for: id }, t(side === "a" ? "pairA" : "pairB", i + 1)), input);
        };
        const remove = el("button", { type: "button", "aria-label": t("pairRemove", i + 1), title: t("pairRemove", i + 1) }, "×");
        remove.addEventListener("click", () => {
          state.pairs.splice(i, 1);
          renderPairs();
        });
        return el("div", { class: "pair" }, field("a", 0), field("b", 1), remove);
      }),
    );
  }

  function renderSimilarity(pairs, answer) {
    const cross = answer.method === "cross-encoder";
    const columns = cross
      ? ["#", t("textA"), t("textB"), t("label"), t("probabilities"), t("score")]
      : ["#", t("textA"), t("textB"), t("cosineHeader")];
    const head = el("tr", {}, ...columns.map((h) => el("th", {}, h)));
    const rows = answer.data.map((d, i) => {
      let probs;
      if (!cross) probs = null;
      else if (d.probabilities && Object.keys(d.probabilities).length) {
        const labels = answer.labels || Object.keys(d.probabilities);
        probs = el(
          "div",
          {},
          ...labels.map((label) =>
            el(
              "div",
              { class: `prob${label === d.label ? " best" : ""}`, dataset: { label, prob: String(d.probabilities[label]) } },
              el("span", {}, label),
              bar(d.probabilities[label]),
              el("span", { class: "num" }, fmt(d.probabilities[label])),
            ),
          ),
        );
      } else probs = t("regression");
      return el(
        "tr",
        { dataset: { label: d.label === null ? "" : d.label, score: String(d.score) } },
        el("td", { class: "num" }, i + 1),
        el("td", {}, pairs[i][0]),
        el("td", {}, pairs[i][1]),
        ...(cross
          ? [
              el("td", { class: "label-cell" }, d.label === null ? t("none") : el("span", { class: "label-pill" }, d.label)),
              el("td", { class: "probs" }, probs),
              el("td", { class: "num score" }, fmt(d.score)),
            ]
          : [el("td", {}, el("div", { class: "cosine-cell" }, bar(d.score), el("span", { class: "num score" }, fmt(d.score))))]),
      );
    });
    const method = el(
      "p",
      { id: "similarity-method", dataset: { method: answer.method } },
      cross ? t("methodCross", answer.model) : t("methodCosine", answer.model),
    );
    $("similarity-output").replaceChildren(method, el("table", { id: "similarity-results" }, head, ...rows));
  }

  // --------------------------------------------------------------------------------- search
  const STAGE_OF = { rrf: "fusion" };
  const LABEL_CHARS = 28; // longer texts are cut in the scatter plot (the full text is the point's tooltip) // the fused score is named after its formula

  function stagesOf(scores) {
    const stages = new Map();
    for (const [key, value] of Object.entries(scores)) {
      const isRank = key.endsWith("_rank");
      const base = isRank ? key.slice(0, -5) : STAGE_OF[key] || key;
      if (!stages.has(base)) stages.set(base, {});
      stages.get(base)[isRank ? "rank" : "score"] = value;
    }
    return stages;
  }

  function setupSearch() {
    $("search-rerank").addEventListener("change", () => {
      $("search-rerank-top-k").disabled = !$("search-rerank").checked;
    });
    $("search-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const body = { query: $("search-query").value, mode: $("search-mode").value };
      const topK = $("search-top-k").value.trim();
      if (topK !== "") body.top_k = Number(topK);
      body.rerank = $("search-rerank").checked;
      const depth = $("search-rerank-top-k").value.trim();
      if (body.rerank && depth !== "") body.rerank_top_k = Number(depth);
      const filter = $("search-filter").value.trim();
      if (filter !== "") {
        try {
          body.filter = JSON.parse(filter);
        } catch (exc) {
          clearError("search");
          showError("search", new ApiError(0, t("fromPage"), t("filterNotJson", exc.message), "filter"));
          return;
        }
      }
      run("search", () => api("POST", "search", body), renderSearch);
    });
  }

  function renderSearch(answer) {
    const list = el("ol", { class: "ranked hits", id: "search-results" });
    answer.hits.forEach((hit, i) => {
      const stages = stagesOf(hit.scores);
      const stageTable = el(
        "table",
        { class: "stages" },
        el("tr", {}, el("th", {}, t("stage")), ...[...stages.keys()].map((s) => el("th", { dataset: { stage: s } }, t(`stage_${s}`)))),
        el(
          "tr",
          {},
          el("th", {}, t("stageScore")),
          ...[...stages.values()].map((v) => el("td", { class: "num" }, v.score === undefined ? "" : fmt(v.score))),
        ),
        el(
          "tr",
          {},
          el("th", {}, t("stageRank")),
          ...[...stages.values()].map((v) => el("td", { class: "num" }, v.rank === undefined ? "" : String(v.rank))),
        ),
      );
      const meta = Object.entries(hit.metadata || {}).map(([k, v]) => el("span", { class: "meta" }, `${k}: ${JSON.stringify(v)}`));
      list.append(
        el(
          "li",
          { class: "hit", dataset: { id: hit.id, score: String(hit.score), scores: JSON.stringify(hit.scores) } },
          el("span", { class: "rank" }, `${i + 1}`),
          el(
            "div",
            {},
            el("div", {}, el("code", { class: "hit-id" }, hit.id), " ", el("span", { class: "text" }, hit.text)),
            el("div", { class: "metadata" }, ...meta),
            stageTable,
          ),
          el("span", { class: "score num" }, fmt(hit.score)),
        ),
      );
    });
    $("search-output").replaceChildren(el("p", { class: "muted" }, t("hitsSummary", answer.hits.length, answer.mode)), list);
  }

  // ---------------------------------------------------------------------------------- embed
  function setupEmbed() {
    $("embed-texts").value = DEFAULT_EMBED_TEXTS.join("\n");
    $("embed-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const texts = lines($("embed-texts").value);
      const body = { input: texts, input_type: $("embed-kind").value, encoding_format: "float" };
      run("embed", () => api("POST", "v1/embeddings", body), (answer) => renderEmbed(texts, answer));
    });
  }

  function renderEmbed(texts, answer) {
    const vectors = answer.data.map((d) => d.embedding);
    const dim = vectors.length ? vectors[0].length : 0;
    $("embed-summary").textContent = t("embedSummary", vectors.length, answer.model, dim, answer.usage.total_tokens);
    const head = el("tr", {}, ...["#", t("text"), t("dims"), t("norm"), t("firstValues")].map((h) => el("th", {}, h)));
    const rows = vectors.map((v, i) => {
      const norm = Math.sqrt(v.reduce((acc, x) => acc + x * x, 0));
      return el(
        "tr",
        { dataset: { dims: String(v.length), norm: String(norm) } },
        el("td", { class: "num" }, i + 1),
        el("td", {}, texts[i]),
        el("td", { class: "num dims" }, v.length),
        el("td", { class: "num norm" }, fmt(norm)),
        el("td", { class: "num" }, v.slice(0, 4).map((x) => fmt(x, 3)).join(", ") + (v.length > 4 ? ", …" : "")),
      );
    });
    $("embed-table").replaceChildren(el("table", { id: "embed-results" }, head, ...rows));
    drawScatter(texts, vectors);
  }

  // PCA by the eigen-decomposition of the centred Gram matrix (n × n, n = number of texts).
  function pca2(vectors) {
    const n = vectors.length;
    const d = vectors[0].length;
    const mean = new Array(d).fill(0);
    for (const v of vectors) for (let j = 0; j < d; j++) mean[j] += v[j] / n;
    const centred = vectors.map((v) => v.map((x, j) => x - mean[j]));
    const gram = centred.map((a) => centred.map((b) => a.reduce((acc, x, j) => acc + x * b[j], 0)));
    const { values, vectors: eig } = jacobiEigen(gram);
    const order = values.map((v, i) => i).sort((a, b) => values[b] - values[a]);
    const total = values.reduce((acc, v) => acc + Math.max(v, 0), 0) || 1;
    const comps = order.slice(0, 2).map((k) => {
      const scale = Math.sqrt(Math.max(values[k], 0));
      let coords = eig.map((row) => row[k] * scale);
      // A deterministic sign: the point farthest along the component lies on its positive side.
      const far = coords.reduce((best, x, i) => (Math.abs(x) > Math.abs(coords[best]) ? i : best), 0);
      if (coords[far] < 0) coords = coords.map((x) => -x);
      return { coords, ratio: Math.max(values[k], 0) / total };
    });
    while (comps.length < 2) comps.push({ coords: new Array(n).fill(0), ratio: 0 });
    return comps;
  }

  // Cyclic Jacobi rotations for a small symmetric matrix: eigenvalues and eigenvectors (columns).
  function jacobiEigen(matrix) {
    const n = matrix.length;
    const a = matrix.map((r) => r.slice());
    const v = a.map((_, i) => a.map((__, j) => (i === j ? 1 : 0)));
    const scale = a.reduce((acc, r) => acc + r.reduce((s, x) => s + x * x, 0), 0) || 1;
    for (let sweep = 0; sweep < 100; sweep++) {
      let off = 0;
      for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p][q] * a[p][q];
      if (off <= 1e-24 * scale) break;
      for (let p = 0; p < n; p++) {
        for (let q = p + 1; q < n; q++) {
          if (Math.abs(a[p][q]) < 1e-300) continue;
          const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
          const tan = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
          const c = 1 / Math.sqrt(tan * tan + 1);
          const s = tan * c;
          for (let k = 0; k < n; k++) {
            const akp = a[k][p];
            const akq = a[k][q];
            a[k][p] = c * akp - s * akq;
            a[k][q] = s * akp + c * akq;
          }
          for (let k = 0; k < n; k++) {
            const apk = a[p][k];
            const aqk = a[q][k];
            a[p][k] = c * apk - s * aqk;
            a[q][k] = s * apk + c * aqk;
          }
          for (let k = 0; k < n; k++) {
            const vkp = v[k][p];
            const vkq = v[k][q];
            v[k][p] = c * vkp - s * vkq;
            v[k][q] = s * vkp + c * vkq;
          }
        }
      }
    }
    return { values: a.map((r, i) => r[i]), vectors: v };
  }

  function drawScatter(texts, vectors) {
    const svg = $("embed-plot");
    const figure = $("embed-figure");
    svg.replaceChildren();
    if (vectors.length < 2) {
      figure.hidden = false;
      $("embed-caption").textContent = t("pcaNeedsTwo");
      return;
    }
    const [pc1, pc2] = pca2(vectors);
    figure.hidden = false; // shown before drawing: a hidden SVG measures its labels as empty boxes
    const ns = svg.namespaceURI; // the inline <svg>'s own namespace: no URL is written in this page
    const shape = (tag, attrs, text) => {
      const node = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const W = 760;
    const H = 460;
    const pad = { left: 30, right: 210, top: 30, bottom: 30 };
    const extent = (xs) => {
      const lo = Math.min(...xs);
      const hi = Math.max(...xs);
      return hi - lo > 1e-12 ? [lo, hi] : [lo - 1, hi + 1];
    };
    const [x0, x1] = extent(pc1.coords);
    const [y0, y1] = extent(pc2.coords);
    const sx = (x) => pad.left + ((x - x0) / (x1 - x0)) * (W - pad.left - pad.right);
    const sy = (y) => H - pad.bottom - ((y - y0) / (y1 - y0)) * (H - pad.top - pad.bottom);
    if (x0 < 0 && x1 > 0) svg.append(shape("line", { x1: sx(0), x2: sx(0), y1: pad.top, y2: H - pad.bottom }));
    if (y0 < 0 && y1 > 0) svg.append(shape("line", { x1: pad.left, x2: W - pad.right, y1: sy(0), y2: sy(0) }));
    const placed = []; // label boxes drawn so far: a label that would overlap one moves a line away
    const overlaps = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
    texts.forEach((text, i) => {
      const x = sx(pc1.coords[i]);
      const y = sy(pc2.coords[i]);
      const group = shape("g", { class: "point", "data-index": i, "data-x": pc1.coords[i], "data-y": pc2.coords[i] });
      const dot = shape("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 5 });
      dot.append(shape("title", {}, text));
      const short = text.length > LABEL_CHARS ? `${text.slice(0, LABEL_CHARS - 1)}…` : text;
      const label = shape("text", { x: (x + 8).toFixed(1), y: (y + 4).toFixed(1), class: "point-label" }, short);
      group.append(dot, label);
      svg.append(group);
      const y0 = Number(label.getAttribute("y"));
      let box = label.getBBox();
      for (let k = 1; k <= 12 && placed.some((b) => overlaps(box, b)); k++) {
        const shift = 14 * Math.ceil(k / 2) * (k % 2 ? 1 : -1); // +14, -14, +28, -28, …
        const moved = Math.min(H - 4, Math.max(12, y0 + shift));
        label.setAttribute("y", moved.toFixed(1));
        box = label.getBBox();
      }
      placed.push(box);
    });
    $("embed-caption").textContent = t("pcaCaption", (pc1.ratio * 100).toFixed(1), (pc2.ratio * 100).toFixed(1));
  }

  // ------------------------------------------------------------------------- tabs, keyboard
  function setupTabs() {
    const tabs = [...document.querySelectorAll('[role="tab"]')];
    const select = (tab, focus) => {
      for (const other of tabs) {
        const on = other === tab;
        other.setAttribute("aria-selected", String(on));
        other.tabIndex = on ? 0 : -1;
        $(other.getAttribute("aria-controls")).hidden = !on;
      }
      if (focus) tab.focus();
    };
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => select(tab, false));
      tab.addEventListener("keydown", (ev) => {
        const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
        if (next === undefined) return;
        ev.preventDefault();
        select(tabs[(next + tabs.length) % tabs.length], true);
      });
    });
    // Ctrl+Enter (or Cmd+Enter) in a text area submits its form.
    for (const area of document.querySelectorAll("textarea")) {
      area.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
          ev.preventDefault();
          area.form.requestSubmit();
        }
      });
    }
  }

  // ------------------------------------------------------------------------------- language
  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const button of document.querySelectorAll("#compare-examples button"))
      button.title = t("exampleTitle", Number(button.dataset.example) + 1);
    renderPairs();
    renderModels();
    renderNotes();
    for (const render of Object.values(state.renders)) render();
  }

  function setupLanguage() {
    const stored = sessionStorage.getItem(LANG_STORE);
    state.lang = stored || ((navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en");
    const select = $("lang");
    select.value = state.lang;
    select.addEventListener("change", () => {
      state.lang = select.value;
      sessionStorage.setItem(LANG_STORE, state.lang);
      applyLanguage();
    });
  }

  function start() {
    setupLanguage();
    setupKey();
    setupTabs();
    setupCompare();
    setupSimilarity();
    setupSearch();
    setupEmbed();
    applyLanguage();
    loadModels();
  }

  start();
})();
